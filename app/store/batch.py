"""Group commit: many triages in one transaction, durable before anyone is answered.

A commit is the dearest part of a write (an fsync on PostgreSQL, the WAL append and the lock
hand-over on SQLite). So the writer thread (app/store/writer.py) runs the triages queued
together on one connection, in one transaction, commits once, and only then answers them:
a 201 still means "committed".

The rows a new triage writes (the encounter, its audit record, its webhook notifications) wait
in the group and go in with one INSERT per table for the whole group (executemany), at the
commit or before the next identifier lookup, whichever comes first.

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
from sqlalchemy.engine import make_url

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
        """Insert what is pending, parents first (foreign keys), one executemany per table."""
        if not self.pending:
            return
        pending, self.pending = self.pending, {}
        connection = self.join()
        for (table, _), rows in sorted(pending.items(), key=_table_order):
            connection.execute(_insert_of(table), rows)

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
