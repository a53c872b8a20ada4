"""The embedded SQLite database's files, checked: the data directory, the database file and
its -wal and -shm.

SQLite keeps writing to a database file that was deleted under it (its open descriptors still
reach the unlinked file), and maps the -shm file into memory: a -shm it cannot write takes
the process down with SIGBUS when a new connection maps it. So:

- at start and in /readyz, every file must be there and writable (access(2), which also
  catches files made immutable, which permission bits do not show to root);
- before each transaction, the database file must still be the one opened at start
  (same device and inode): otherwise the transaction fails (503) instead of committing into
  a file nobody will ever open again;
- before each new connection, an existing -shm must be writable, or the connection fails
  (503) instead of mapping it;
- at shutdown, connections over a -shm that became unwritable are left open (closing them
  would fault in the shared memory).
Still out of reach: a connection writing into a -shm page that became unwritable while
mapped faults like the close would (SQLite's wal-index lives in that mapping).
"""

from __future__ import annotations

import contextlib
import errno
import os
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy.exc import OperationalError


class DatabaseFilesUnusable(Exception):
    """The database's files are missing, replaced or not writable; the message says which."""


def _writable(path: Path) -> bool:
    """Writable by this process, without opening it: closing any descriptor of a SQLite file
    drops every POSIX lock the process holds on it (SQLite's own included), so these files are
    never opened here. access(2) also says no for immutable files and read-only mounts, root or not."""
    effective = os.access in os.supports_effective_ids
    return os.access(path, os.W_OK, effective_ids=effective)


def _directory_writable(path: Path) -> bool:
    probe = path / f".lbp-write-check-{os.getpid()}"
    try:
        fd = os.open(probe, os.O_CREAT | os.O_WRONLY | os.O_EXCL, 0o600)
    except FileExistsError:
        return True
    except OSError:
        return False
    os.close(fd)
    with contextlib.suppress(OSError):
        os.unlink(probe)
    return True


class SqliteFiles:
    def __init__(self, database: str) -> None:
        self.path = Path(database).resolve()
        self.identity: tuple[int, int] | None = None  # (device, inode) of the file opened at start

    def problems(self, starting: bool = False) -> list[str]:
        """What is wrong with the files, in words an operator can act on (empty: all is well).
        `starting`: the database file may not exist yet (it is created)."""
        directory = self.path.parent
        if not directory.is_dir():
            return [f"the data directory {directory} is gone"]
        found = []
        if not _directory_writable(directory):
            found.append(f"cannot write in the data directory {directory}")
        if not self.path.exists():
            if not starting:
                found.append(f"the database file {self.path} is gone")
        elif self.identity is not None and not self.same_file():
            found.append(f"the database file {self.path} was replaced")
        for path in (self.path, Path(f"{self.path}-wal"), Path(f"{self.path}-shm")):
            if path.exists() and not _writable(path):
                found.append(f"cannot write {path}")
        return found

    def remember(self) -> None:
        stat = self.path.stat()
        self.identity = (stat.st_dev, stat.st_ino)

    def same_file(self) -> bool:
        try:
            stat = self.path.stat()
        except OSError:
            return False
        return (stat.st_dev, stat.st_ino) == self.identity

    def shm_writable(self) -> bool:
        shm = Path(f"{self.path}-shm")
        return not shm.exists() or _writable(shm)

    def guard(self, engine: Engine) -> None:
        """Fail transactions on a vanished or replaced file, and connections to an unwritable -shm."""

        @event.listens_for(engine, "begin")
        def _still_there(connection: Any) -> None:
            if self.identity is not None and not self.same_file():
                raise OperationalError("BEGIN", None, DatabaseFilesUnusable("the database file is gone or replaced"))

        @event.listens_for(engine, "do_connect")
        def _shm_writable(dialect: Any, record: Any, cargs: Any, cparams: Any) -> None:
            if not self.shm_writable():
                raise OperationalError(
                    "connect",
                    None,
                    DatabaseFilesUnusable(os.strerror(errno.EACCES) + ": the -shm file is not writable"),
                )


def abandon(engine: Engine) -> None:
    """Leave the engine's SQLite connections open for good. Closing one over a -shm that can
    no longer be written faults in SQLite's shared memory (SIGBUS, the process dies); left
    open, they go with the process, and the next start checks the files before mapping them."""
    import ctypes

    pool: Any = engine.pool
    for record in list(getattr(getattr(pool, "_pool", None), "queue", ())):
        connection = getattr(record, "dbapi_connection", None)
        if connection is not None:
            ctypes.pythonapi.Py_IncRef(ctypes.py_object(connection))  # never deallocated, never closed


def sqlite_path(engine: Engine) -> str | None:
    """The file of a file-backed SQLite engine (None for PostgreSQL or in-memory)."""
    if engine.url.get_backend_name() != "sqlite":
        return None
    database = engine.url.database
    return database if database and database != ":memory:" and not database.startswith("file:") else None
