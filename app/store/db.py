"""Engines for SQLite and PostgreSQL from one URL, tuned for each.

`sqlite:///path` and `postgresql://…` are accepted as users write them; the driver is
picked here (pysqlite, psycopg 3). SQLite runs in WAL mode so that reads never wait for
the writer, with a busy timeout so concurrent writers queue instead of failing.

PostgreSQL waits are bounded, so that a database that stops answering gives 503s rather than
requests that hang: connecting (libpq connect_timeout), waiting for a pooled connection
(pool_timeout), each statement on the server (statement_timeout), and, for a server that is
frozen and enforces nothing, a watchdog that cuts the socket of a connection held longer than
the database timeout (the driver then fails, the connection is replaced, the request gets 503).
"""

from __future__ import annotations

import contextlib
import socket
import sqlite3
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import orjson
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError


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


class Watchdog:
    """Cuts the socket of PostgreSQL connections checked out for longer than `limit` seconds.

    Armed at checkout, disarmed at checkin; one thread looks a few times a second. Work that
    may legitimately run long (migrations) runs inside `unbounded_transaction()`.
    """

    def __init__(self, limit: float) -> None:
        self.limit = limit
        self._armed: dict[int, tuple[float, int]] = {}  # connection record → (deadline, socket fd)
        self._lock = threading.Lock()
        self._local = threading.local()
        self._thread: threading.Thread | None = None

    @contextlib.contextmanager
    def unbounded(self) -> Iterator[None]:
        self._local.unbounded = getattr(self._local, "unbounded", 0) + 1
        try:
            yield
        finally:
            self._local.unbounded -= 1

    def arm(self, record: Any, dbapi_connection: Any) -> None:
        if getattr(self._local, "unbounded", 0):
            return
        try:
            fd = dbapi_connection.pgconn.socket
        except Exception:  # not a live psycopg connection: nothing to watch
            return
        with self._lock:
            self._armed[id(record)] = (time.monotonic() + self.limit, fd)
            if self._thread is None:
                self._thread = threading.Thread(target=self._watch, name="db-watchdog", daemon=True)
                self._thread.start()

    def disarm(self, record: Any) -> None:
        with self._lock:
            self._armed.pop(id(record), None)

    def _watch(self) -> None:
        while True:
            time.sleep(min(0.25, self.limit / 4))
            now = time.monotonic()
            with self._lock:
                overdue = [(key, fd) for key, (deadline, fd) in self._armed.items() if deadline <= now]
                for key, _ in overdue:
                    del self._armed[key]
                for _, fd in overdue:
                    _cut(fd)


def _cut(fd: int) -> None:
    """Shut the socket down (every descriptor of it): a blocked read or write fails at once."""
    try:
        sock = socket.socket(fileno=fd)
    except OSError:
        return
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    finally:
        sock.detach()  # the driver still owns the descriptor


T = TypeVar("T")

# How long a SQLite connection waits for another's write lock before failing.
SQLITE_BUSY_SECONDS = 30


def retry_while_locked(attempt: Callable[[], T], seconds: float) -> T:
    """attempt(), again while SQLite answers "database is locked", for up to `seconds`: where
    its busy handler does not wait (turning a new file to WAL, which needs it to itself), or has
    waited its time out (another process's long migration)."""
    deadline = time.monotonic() + seconds
    pause = 0.005
    while True:
        try:
            return attempt()
        except (sqlite3.OperationalError, OperationalError) as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
        time.sleep(pause)
        pause = min(pause * 2, 0.1)


def make_engine(url: str, pool_size: int = 10, timeout: float = 2.0) -> Engine:
    """`timeout`: seconds a PostgreSQL statement, connection attempt or pool checkout may take."""
    url = normalise_url(url)
    common: dict[str, Any] = {
        "json_serializer": _json_dumps,
        "json_deserializer": orjson.loads,
    }
    if is_sqlite(url):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_SECONDS}, **common)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            # the workers of a multi-worker start opening one new file: one turns it, the others wait
            retry_while_locked(lambda: cursor.execute("PRAGMA journal_mode=WAL"), SQLITE_BUSY_SECONDS)
            # NORMAL in WAL mode: a committed transaction survives a process crash; only a
            # power loss may drop the last commits (never corrupts the database).
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_SECONDS * 1000}")
            # 16 MiB of page cache per connection (SQLite's default is 2 MiB): the indexes
            # searches walk stay in memory as the table grows.
            cursor.execute("PRAGMA cache_size=-16384")
            cursor.close()

        return engine
    milliseconds = int(timeout * 1000)
    engine = create_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size,
        # No pre-ping: it costs a round trip per request. A connection found broken is
        # invalidated with its pool, that request gets a 503, and the next ones reconnect.
        pool_pre_ping=False,
        pool_timeout=min(timeout, 1.0),
        connect_args={
            "connect_timeout": max(2, int(timeout + 0.999)),  # libpq's smallest is 2 s
            "options": f"-c statement_timeout={milliseconds} -c lock_timeout={milliseconds} "
            f"-c idle_in_transaction_session_timeout={max(milliseconds * 5, 10000)}",
        },
        **common,
    )
    # Held longer than the statement timeout plus a margin: the server is not answering at all.
    watchdog = Watchdog(timeout + 1.0)
    event.listen(engine, "checkout", lambda dbapi, record, proxy: watchdog.arm(record, dbapi))
    event.listen(engine, "checkin", lambda dbapi, record: watchdog.disarm(record))
    event.listen(engine, "close", lambda dbapi, record: watchdog.disarm(record))
    _watchdogs[engine] = watchdog  # for unbounded_transaction()
    return engine


# Each PostgreSQL engine's watchdog, for unbounded_transaction() to stand down (it goes with its engine).
_watchdogs: weakref.WeakKeyDictionary[Engine, Watchdog] = weakref.WeakKeyDictionary()


@contextlib.contextmanager
def unbounded_transaction(engine: Engine, wait_on_locks: bool = True) -> Iterator[Connection]:
    """A transaction for work that may take long (migrations, housekeeping): no watchdog, and on
    PostgreSQL no statement timeout, nor a lock timeout unless `wait_on_locks` is false."""
    watchdog = _watchdogs.get(engine)
    with watchdog.unbounded() if watchdog is not None else contextlib.nullcontext(), engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            connection.exec_driver_sql("SET LOCAL statement_timeout = 0")
            if wait_on_locks:
                connection.exec_driver_sql("SET LOCAL lock_timeout = 0")
        yield connection
