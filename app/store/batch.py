"""Group commit: many triages in one transaction, durable before anyone is answered.

A commit is the dearest part of a write (an fsync on PostgreSQL, the WAL append and the lock
hand-over on SQLite). So the writer thread (app/store/writer.py) runs the triages queued
together on one connection, in one transaction, commits once, and only then answers them:
a 201 still means "committed".

The rows a new triage writes (the encounter, its audit record, its webhook notifications) wait
in the group and go in with one INSERT per table for the whole group (executemany), at the
commit or before the next identifier lookup, whichever comes first. Those INSERTs are compiled
once per table and set of columns and run on the driver's own cursor: SQLAlchemy's execution
path (execution context, events, parameter processing) cost several times what the driver's
execute does. The values go through the very bind processors SQLAlchemy would apply (JSON
serialisation, UTC datetimes), so the rows are stored exactly as before; a driver error becomes
SQLAlchemy's exception (IntegrityError, OperationalError…) and spoils the group.

One transaction, one connection: a later triage of the group sees what an earlier one wrote
(its identifier lookup finds the row just inserted, an amendment finds the version before
it), exactly as if they had committed one after the other. A triage whose `judge` refuses it
(a Conflict) has written nothing and leaves the group as it was. Any other failure (a
duplicate identifier racing another process, a constraint, a lost connection, a timeout)
spoils the transaction: the writer rolls it back and runs each triage of the group again in a
transaction of its own, so one bad row fails only its own request. A failed COMMIT does the
same, and its connection is invalidated (never handed back to the pool with rows in it).

On PostgreSQL the group's connection is checked out per group and returned after the commit,
so the database timeouts and the watchdog (app/store/db.py) apply to every group as to any
transaction; on SQLite the writer keeps its connection between groups (one reused connection
per writer), and the file check at each BEGIN (app/store/sqlite_files.py) still runs for every
group. After a failure the connection is rolled back and returned (or invalidated).

SQLite has one writer at a time for the whole database. Our writers (threads of this process
and other worker processes) queue on a lock here and on a lock file next to the database
(`<database>-writer.lock`, flock) instead of in SQLite's busy handler, which sleeps in steps
of milliseconds: with two workers those sleeps, not the writes, set the pace. The writer also
checkpoints SQLite's WAL itself, after answering, instead of inside the commit that crosses
SQLite's threshold (which would hold up every triage waiting on that commit).
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from typing import Any

from sqlalchemy import Connection, Engine, Table, insert
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.exc import DBAPIError

log = logging.getLogger("lbp_triage.writer")

# SQLite's own automatic checkpoint comes every 1,000 WAL pages; every 0.1 s keeps the WAL a
# few MB at a thousand triages per second.
CHECKPOINT_SECONDS = 0.1

_local = threading.local()  # .groups: dict[Engine, Group] while a writer thread runs grouped work


class EngineLock:
    """Mutual exclusion of the writers of one SQLite database: threads, then processes."""

    def __init__(self, engine: Engine) -> None:
        self._thread_lock = threading.Lock()
        self._path = _lock_path(engine)
        self._fd: int | None = None

    def __enter__(self) -> None:
        self._thread_lock.acquire()
        if self._path is None:
            return
        try:
            if self._fd is None:
                self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
                weakref.finalize(self, os.close, self._fd)  # with the engine, the lock goes
            fcntl.flock(self._fd, fcntl.LOCK_EX)  # woken the moment the holder lets go
        except OSError as exc:  # a read-only directory: SQLite's busy handler still settles it
            log.debug("no writer lock file", extra={"error": type(exc).__name__})
            self._path = None

    def __exit__(self, *exc: object) -> None:
        try:
            if self._fd is not None and self._path is not None:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            self._thread_lock.release()


def _lock_path(engine: Engine) -> str | None:
    database = make_url(engine.url).database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return f"{database}-writer.lock"


_locks: weakref.WeakKeyDictionary[Engine, Any] = weakref.WeakKeyDictionary()
_locks_guard = threading.Lock()


def write_lock(engine: Engine) -> Any:
    """The lock every writer of this engine takes around its transaction (SQLite), or none."""
    with _locks_guard:
        lock = _locks.get(engine)
        if lock is None:
            lock = EngineLock(engine) if engine.dialect.name == "sqlite" else contextlib.nullcontext()
            _locks[engine] = lock
        return lock


class Group:
    """One writer thread's open transaction on one engine, shared by the triages of a batch."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.connection: Connection | None = None
        self.spoiled = False  # a failure left the transaction unusable: roll back, write each alone
        self.callbacks: list[Callable[[], None]] = []  # run once committed (e.g. wake the webhook dispatcher)
        # Rows waiting to be inserted, by table and set of columns: one executemany each, at the
        # commit or before the next statement that may read them (flush()).
        self.pending: dict[tuple[Table, tuple[str, ...]], list[dict[str, Any]]] = {}
        self._lock: Any = None
        self._sqlite = engine.dialect.name == "sqlite"
        self._commits = 0  # since the last checkpoint
        self._checkpointed_at = time.monotonic()

    def join(self) -> Connection:
        """The group's connection, in its transaction (begun, and the writers' lock taken, by the first)."""
        if self._lock is None:
            lock = write_lock(self.engine)
            lock.__enter__()
            self._lock = lock
        if self.connection is None:
            try:
                connection = self.engine.connect()
            except BaseException:
                self._release()
                raise
            self.connection = connection
            if self._sqlite:
                try:
                    # The commit that crosses SQLite's automatic checkpoint threshold copies the WAL
                    # into the database and syncs it before its triages are answered; the writer
                    # checkpoints after answering instead (checkpoint()).
                    _pragma(connection, "wal_autocheckpoint=0")
                except BaseException:
                    self._release(invalidate=True)
                    raise
        return self.connection

    def insert(self, table: Table, rows: list[dict[str, Any]]) -> None:
        """Rows to insert in this transaction: written with the group's other rows for the table."""
        for row in rows:
            self.pending.setdefault((table, tuple(row)), []).append(row)

    def flush(self) -> None:
        """Insert what is pending, parents first (foreign keys), one executemany per table.
        A failure spoils the group: rows of earlier triages may be missing from its transaction."""
        if not self.pending:
            return
        pending, self.pending = self.pending, {}
        connection = self.join()
        try:
            if not connection.in_transaction():
                connection.begin()  # SQLAlchemy's transaction (and its BEGIN checks), which commit() ends
            dialect = connection.dialect
            ordered = sorted(pending.items(), key=_table_order)
            statements = [(_raw_insert(table, columns, dialect), table, rows) for (table, columns), rows in ordered]
            driver = connection.connection.driver_connection
            if self._sqlite or len(statements) < 2 or any(raw is None for raw, _, _ in statements):
                together: Any = contextlib.nullcontext()
            else:
                # PostgreSQL: every table's rows in one pipeline, one round trip to the server
                together = driver.pipeline()  # type: ignore[union-attr]
            cursor = driver.cursor()  # type: ignore[union-attr]
            try:
                with _as_sqlalchemy_error(connection, cursor), together:
                    for raw, table, rows in statements:
                        if raw is None:
                            connection.execute(_insert_of(table), rows)
                        else:
                            raw.run(cursor, rows, connection)
            finally:
                cursor.close()
        except BaseException:
            self.spoiled = True
            raise

    def commit(self) -> None:
        if self._lock is None:  # nobody joined since the last commit
            return
        try:
            self.flush()
            assert self.connection is not None  # a joined group (_lock set) holds its connection
            self.connection.commit()
        except BaseException:
            # Rolled back explicitly before the connection goes back to the pool, or invalidated
            # when even that fails: never handed on with these rows in it. (Not invalidated
            # outright: a SQLite connection opened while the file is not writable stays
            # read-only for good, and the pool would keep it.)
            self.rollback()
            raise
        self._commits += 1
        # SQLite: the connection stays with the writer for its next group (no pool round trip,
        # and each transaction still checks the database file at BEGIN). PostgreSQL: back to the
        # pool, so that the watchdog sees every group as a checkout of its own.
        self._release(keep_connection=self._sqlite)

    def rollback(self) -> None:
        self.callbacks.clear()  # nothing of theirs was committed
        self.pending = {}
        if self.connection is None:
            self._release()
            return
        try:
            self.connection.rollback()
        except Exception:
            self._release(invalidate=True)
            return
        self._release()

    def take_callbacks(self) -> list[Callable[[], None]]:
        callbacks, self.callbacks = self.callbacks, []
        return callbacks

    def checkpoint(self) -> None:
        """SQLite: copy the WAL into the database, after the triages of the last commits have
        been answered, at most every CHECKPOINT_SECONDS. Holding the writers' lock lets it
        finish, so that the next transaction starts the WAL over instead of growing it."""
        if not self._sqlite or not self._commits:
            return
        if time.monotonic() - self._checkpointed_at < CHECKPOINT_SECONDS:
            return
        self._commits = 0
        self._checkpointed_at = time.monotonic()
        try:
            with write_lock(self.engine):
                if self.connection is not None:  # the writer's own: no second connection (and page cache)
                    _pragma(self.connection, "wal_checkpoint(PASSIVE)")
                else:
                    with self.engine.connect() as connection:
                        connection.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")
                        connection.commit()
        except Exception as exc:
            log.debug("checkpoint skipped", extra={"error": type(exc).__name__})

    def _release(self, invalidate: bool = False, keep_connection: bool = False) -> None:
        connection = self.connection
        if not keep_connection:
            self.connection = None
        lock, self._lock = self._lock, None
        self.spoiled = False
        try:
            if connection is not None and not keep_connection:
                if invalidate:
                    with contextlib.suppress(Exception):
                        connection.invalidate()
                elif self._sqlite:
                    # back to the pool as it came: other users keep SQLite's automatic checkpoints
                    with contextlib.suppress(Exception):
                        _pragma(connection, "wal_autocheckpoint=1000")
                with contextlib.suppress(Exception):
                    connection.close()
        finally:
            if lock is not None:
                lock.__exit__(None, None, None)


_order: dict[Table, int] = {}


def _table_order(item: tuple[tuple[Table, tuple[str, ...]], list]) -> int:
    """Parents before children (foreign keys); computed once per table, not per commit."""
    table = item[0][0]
    position = _order.get(table)
    if position is None:
        tables = table.metadata.sorted_tables
        position = _order[table] = tables.index(table) if table in tables else 0
    return position


_inserts: dict[Table, Any] = {}


def _insert_of(table: Table) -> Any:
    statement = _inserts.get(table)
    if statement is None:
        statement = _inserts[table] = insert(table)
    return statement


class _RawInsert:
    """One table's INSERT for one set of columns, compiled once for a dialect, run with the
    driver's executemany: the SQL and the bind processors are SQLAlchemy's own."""

    __slots__ = ("columns", "positional", "processors", "sql")

    def __init__(self, sql: str, columns: tuple[str, ...], processors: dict[str, Any], positional: bool) -> None:
        self.sql = sql
        self.columns = columns
        self.processors = tuple((name, processors[name]) for name in columns if name in processors)
        self.positional = positional

    def run(self, cursor: Any, rows: list[dict[str, Any]], connection: Connection) -> None:
        processors = self.processors
        if processors:
            rows = [dict(row) for row in rows]
            for row in rows:
                for name, process in processors:
                    row[name] = process(row[name])
        if self.positional:
            columns = self.columns
            parameters: list[Any] = [tuple([row[name] for name in columns]) for row in rows]
        else:
            parameters = rows
        sql = self.sql
        dispatch = connection.dispatch
        if dispatch.before_cursor_execute:  # listeners (instrumentation, tests) see the statement as from SQLAlchemy
            for listener in dispatch.before_cursor_execute:
                sql, parameters = listener(connection, cursor, sql, parameters, None, True)
        cursor.executemany(sql, parameters)  # a driver error becomes SQLAlchemy's in flush()
        if dispatch.after_cursor_execute:
            for listener in dispatch.after_cursor_execute:
                listener(connection, cursor, sql, parameters, None, True)


@contextlib.contextmanager
def _as_sqlalchemy_error(connection: Connection, cursor: Any) -> Iterator[None]:
    """A driver error raised inside as SQLAlchemy's own (IntegrityError, OperationalError…), and
    a lost connection invalidated, as SQLAlchemy does for the statements it runs."""
    try:
        yield
    except Exception as exc:
        dialect = connection.dialect
        dbapi = dialect.loaded_dbapi
        if not isinstance(exc, dbapi.Error):
            raise
        if dialect.is_disconnect(exc, connection.connection.dbapi_connection, cursor):
            connection.invalidate(exc)  # never back to the pool
        raise DBAPIError.instance("INSERT (group commit)", None, exc, dbapi.Error, dialect=dialect) from exc


_raw_inserts: dict[tuple[Table, tuple[str, ...], int], _RawInsert | None] = {}


def _raw_insert(table: Table, columns: tuple[str, ...], dialect: Dialect) -> _RawInsert | None:
    """The raw INSERT of these columns, or None where SQLAlchemy would add values of its own
    (a column default not given, a parameter style not handled here): then SQLAlchemy runs it."""
    key = (table, columns, id(dialect))
    if key in _raw_inserts:
        return _raw_inserts[key]
    compiled = insert(table).compile(dialect=dialect, column_keys=list(columns))
    names = tuple(compiled.positiontup or ()) if compiled.positional else tuple(compiled.binds)
    handled = dialect.paramstyle in ("qmark", "pyformat")
    statement = None
    if handled and set(names) == set(columns) and len(names) == len(columns) and not compiled.escaped_bind_names:
        statement = _RawInsert(compiled.string, names, dict(compiled._bind_processors), compiled.positional)
    _raw_inserts[key] = statement
    return statement


def _pragma(connection: Connection, pragma: str) -> None:
    """Straight to the driver: a connection setting, outside any transaction (no BEGIN, no COMMIT)."""
    driver = connection.connection.driver_connection
    assert driver is not None  # a checked-out connection holds its driver's
    driver.execute(f"PRAGMA {pragma}")


def current(engine: Engine) -> Group | None:
    """The group this thread's work joins on this engine, when a writer runs grouped work."""
    groups = getattr(_local, "groups", None)
    if groups is None:
        return None
    group = groups.get(engine)
    if group is None:
        group = groups[engine] = Group(engine)
    return group


@contextlib.contextmanager
def grouping(groups: dict[Engine, Group]) -> Iterator[None]:
    """While inside, repository writes on this thread join these groups (one per engine)."""
    _local.groups = groups
    try:
        yield
    finally:
        _local.groups = None
