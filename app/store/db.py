"""Engines for SQLite and PostgreSQL from one URL, tuned for each.

`sqlite:///path` and `postgresql://…` are accepted as users write them; the driver is
picked here (pysqlite, psycopg 3). SQLite runs in WAL mode so that reads never wait for
the writer, with a busy timeout so concurrent writers queue instead of failing.
"""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url


def _json_dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def normalise_url(url: str) -> str:
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    elif parsed.drivername == "sqlite":
        parsed = parsed.set(drivername="sqlite+pysqlite")
    return parsed.render_as_string(hide_password=False)


def is_sqlite(engine_or_url: Engine | str) -> bool:
    url = engine_or_url.url if isinstance(engine_or_url, Engine) else make_url(engine_or_url)
    return url.get_backend_name() == "sqlite"


def make_engine(url: str, pool_size: int = 10) -> Engine:
    url = normalise_url(url)
    common: dict[str, Any] = {
        "json_serializer": _json_dumps,
        "json_deserializer": orjson.loads,
    }
    if is_sqlite(url):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, **common)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            # NORMAL in WAL mode: a committed transaction survives a process crash; only a
            # power loss may drop the last commits (never corrupts the database).
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            # 16 MiB of page cache per connection (SQLite's default is 2 MiB): the indexes
            # searches walk stay in memory as the table grows.
            cursor.execute("PRAGMA cache_size=-16384")
            cursor.close()

        return engine
    return create_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size,
        # No pre-ping: it costs a round trip per request. A connection found broken is
        # invalidated with its pool, that request gets a 503, and the next ones reconnect.
        pool_pre_ping=False,
        pool_timeout=5,
        connect_args={"connect_timeout": 2},
        **common,
    )
