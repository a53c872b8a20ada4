"""The audit spool: audit records that could not reach the database wait in a local,
append-only file (one JSON object per line) and are written to the database when it answers
again. An access attempt made while the database is down is therefore never lost, only late.

Several processes (uvicorn workers) may share one spool file: appends and the replay hold an
exclusive `flock` on it, and a replay skips records already in the database (a replay cut
short is simply run again). `lbp_audit_spool_records` says how many records wait; alert on
it staying above zero (deploy/prometheus/alerts.yml).
"""

from __future__ import annotations

import fcntl
import logging
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
from prometheus_client import Counter, Gauge

log = logging.getLogger("lbp_triage.audit")

SPOOL_RECORDS = Gauge(
    "lbp_audit_spool_records",
    "Audit records waiting in the local spool for the database (should be 0; above 0 while the database is down).",
    multiprocess_mode="livemostrecent",
)
SPOOLED = Counter("lbp_audit_spooled", "Audit records spooled locally because the database did not take them.")
REPLAYED = Counter("lbp_audit_replayed", "Spooled audit records written to the database later.")
LOST = Counter(
    "lbp_audit_lost",
    "Audit records neither stored nor spooled (the spool file could not be "
    "written: disk full, permissions). Each one is also logged at CRITICAL.",
)


def _encode(row: dict[str, Any]) -> bytes:
    return orjson.dumps({k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in row.items()}) + b"\n"


def _decode(line: bytes) -> dict[str, Any]:
    row = orjson.loads(line)
    row["recorded"] = datetime.fromisoformat(row["recorded"])
    return row


class AuditSpool:
    def __init__(self, path: Path) -> None:
        self.path = path

    @contextmanager
    def _locked(self) -> Iterator[int]:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield fd
        finally:
            os.close(fd)  # releases the lock

    def append(self, row: dict[str, Any]) -> None:
        line = _encode(row)
        try:
            with self._locked() as fd:
                os.write(fd, line)
                os.fsync(fd)
        except OSError as exc:
            LOST.inc()
            log.critical(
                "audit record LOST: neither the database nor the spool file took it",
                extra={"error": exc.strerror, "spool": str(self.path)},
            )
            return
        SPOOLED.inc()
        log.warning("audit record spooled: the database did not take it", extra={"spool": str(self.path)})
        self.measure()

    def has_records(self) -> bool:
        try:
            return self.path.stat().st_size > 0
        except OSError:
            return False

    def measure(self) -> int:
        """Count the waiting records (and publish the count)."""
        count = 0
        if self.has_records():
            with open(self.path, "rb") as handle:
                count = sum(1 for line in handle if line.strip())
        SPOOL_RECORDS.set(count)
        return count

    def replay(self, store: Callable[[list[dict[str, Any]]], None]) -> int:
        """Hand every spooled record to `store` (which raises if the database fails), then empty
        the file; returns how many were replayed. On failure the file is left as it was."""
        if not self.has_records():
            return 0
        with self._locked() as fd:
            with open(fd, "rb", closefd=False) as handle:
                handle.seek(0)
                rows = [_decode(line) for line in handle if line.strip()]
            if rows:
                store(rows)
            os.ftruncate(fd, 0)
            os.fsync(fd)
        REPLAYED.inc(len(rows))
        SPOOL_RECORDS.set(0)
        if rows:
            log.warning("spooled audit records written to the database", extra={"records": len(rows)})
        return len(rows)
