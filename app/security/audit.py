"""The audit trail: records, their storage, and their FHIR AuditEvent form."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, Engine, insert, select
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from app.kit.clock import instant
from app.kit.ids import time_ordered_id
from app.security.audit_spool import AuditSpool
from app.store.paging import newest_first
from app.store.tables import AuditRecord

A = AuditRecord.__table__
ACTION = {
    "create": "C",
    "read": "R",
    "vread": "R",
    "history-instance": "R",
    "search": "R",
    "update": "U",
    "delete": "D",
}
SUBTYPE = {
    "create": "create",
    "read": "read",
    "vread": "vread",
    "history-instance": "history-instance",
    "search": "search-type",
    "update": "update",
    "delete": "delete",
}


def outcome_for(status: int) -> str:
    """FHIR audit-event-outcome: 0 success, 4 minor failure (refused, invalid), 8 serious."""
    if status < 400:
        return "0"
    return "4" if status < 500 else "8"


def audit_row(
    *,
    interaction: str,
    resource_type: str | None,
    resource_id: str | None,
    patient: str | None,
    agent: str,
    client_address: str | None,
    status: int,
    repeats: int | None = None,
) -> dict[str, Any]:
    return {
        "id": time_ordered_id(),
        "recorded": datetime.now(UTC),
        "action": ACTION.get(interaction, "E"),
        "interaction": interaction,
        "resource_type": resource_type,
        "resource_id": resource_id if resource_id and len(resource_id) <= 64 else None,
        "patient": patient if patient and len(patient) <= 64 else None,
        "agent": agent[:256],
        "client_address": (client_address or "")[:64] or None,
        "status": status,
        "outcome": outcome_for(status),
        "repeats": repeats,
    }


# Refusals of access (no valid token, no scope, too many requests, no issuer keys): a flood of
# them must not become a flood of audit rows.
REFUSALS = frozenset({401, 403, 429, 503})


class RefusalAggregator:
    """The first refusal of a kind (same address, agent, status, resource type and interaction)
    is recorded as it comes; those like it in the next `window` seconds are only counted, and
    one aggregate record says how many there were. Memory is bounded by `max_kinds`."""

    def __init__(self, window: float = 10.0, max_kinds: int = 10_000) -> None:
        self.window = window
        self.max_kinds = max_kinds
        self._open: dict[tuple[Any, ...], tuple[float, int, dict[str, Any]]] = {}
        self._lock = threading.Lock()
        self._swept = time.monotonic()

    def note(self, row: dict[str, Any]) -> list[dict[str, Any]]:
        """The rows to write now for this refusal (none, it, and/or aggregates that closed)."""
        key = (row["client_address"], row["agent"], row["status"], row["resource_type"], row["interaction"])
        now = time.monotonic()
        with self._lock:
            closed = self._sweep(now) if now - self._swept >= 1.0 or len(self._open) >= self.max_kinds else []
            opened = self._open.get(key)
            if opened is not None:
                self._open[key] = (opened[0], opened[1] + 1, opened[2])
                return closed
            self._open[key] = (now, 0, row)
            return [*closed, row]

    def due(self) -> list[dict[str, Any]]:
        """Aggregates whose window has closed (looked for at most once a second), so that they
        are written with the next audited request of any kind, not only the next refusal."""
        now = time.monotonic()
        if now - self._swept < 1.0 or not self._open:
            return []
        with self._lock:
            return self._sweep(now)

    def flush(self) -> list[dict[str, Any]]:
        with self._lock:
            return self._sweep(float("inf"))

    def _sweep(self, now: float) -> list[dict[str, Any]]:
        self._swept = now if now != float("inf") else self._swept
        full = len(self._open) >= self.max_kinds
        closed = []
        for key, (opened_at, count, first) in list(self._open.items()):
            if full or now - opened_at >= self.window:
                del self._open[key]
                if count:
                    closed.append(
                        dict(
                            first,
                            id=time_ordered_id(),
                            recorded=datetime.now(UTC),
                            resource_id=None,
                            repeats=count,
                        )
                    )
        return closed


@dataclass(frozen=True, slots=True)
class AuditPage:
    rows: list[dict[str, Any]]
    total: int
    last_key: tuple[datetime, str] | None


class AuditRepository:
    def __init__(self, engine: Engine, spool: AuditSpool | None = None) -> None:
        self.engine = engine
        self.spool = spool  # where records wait while the database is down

    def record(self, row: dict[str, Any]) -> None:
        """Store the record; if the database does not take it (down, not migrated), spool it."""
        try:
            with self.engine.begin() as connection:
                connection.execute(insert(A), row)
        except (DataError, IntegrityError):
            raise  # the record itself is wrong: spooling would not help
        except (DBAPIError, PoolTimeout):
            if self.spool is None:
                raise
            self.spool.append(row)
            return
        self.replay()

    def replay(self) -> int:
        """Write the spooled records, if any, now that the database answers. Never raises."""
        if self.spool is None or not self.spool.has_records():
            return 0
        try:
            return self.spool.replay(self._store_missing)
        except (DBAPIError, PoolTimeout):
            return 0  # still down: they stay spooled

    def _store_missing(self, rows: list[dict[str, Any]]) -> None:
        with self.engine.begin() as connection:
            for start in range(0, len(rows), 500):
                chunk = rows[start : start + 500]
                present = set(connection.execute(select(A.c.id).where(A.c.id.in_([r["id"] for r in chunk]))).scalars())
                missing = [r for r in chunk if r["id"] not in present]
                if missing:
                    connection.execute(insert(A), missing)

    def read(self, audit_id: str) -> dict[str, Any] | None:
        with self.engine.connect() as connection:
            row = connection.execute(select(A).where(A.c.id == audit_id)).mappings().first()
        return dict(row) if row else None

    def search(
        self,
        *,
        patient: str | None,
        since: datetime | None,
        before: datetime | None,
        count: int,
        after: tuple[datetime, str] | None,
        ids: set[str] | None = None,
    ) -> AuditPage:
        conditions: list[ColumnElement[bool]] = []
        if ids is not None:
            conditions.append(A.c.id.in_(sorted(ids)))
        if patient is not None:
            conditions.append(A.c.patient == patient)
        if since is not None:
            conditions.append(A.c.recorded >= since)
        if before is not None:
            conditions.append(A.c.recorded < before)
        with self.engine.connect() as connection:
            rows, total, last_key = newest_first(
                connection,
                A,
                [c for c in A.c if c.name not in ("recorded", "id")],
                A.c.recorded,
                A.c.id,
                conditions,
                after,
                count,
            )
        return AuditPage([dict(r._mapping) for r in rows], total, last_key)


def audit_event(row: dict[str, Any]) -> dict[str, Any]:
    """The record as a FHIR R4 AuditEvent."""
    recorded = instant(row["recorded"])
    agent: dict[str, Any] = {"who": {"display": row["agent"]}, "requestor": True}
    if row["client_address"]:
        agent["network"] = {"address": row["client_address"], "type": "2"}
    event: dict[str, Any] = {
        "resourceType": "AuditEvent",
        "id": row["id"],
        "meta": {"versionId": "1", "lastUpdated": recorded},
        "type": {
            "system": "http://terminology.hl7.org/CodeSystem/audit-event-type",
            "code": "rest",
            "display": "RESTful Operation",
        },
        "subtype": [
            {"system": "http://hl7.org/fhir/restful-interaction", "code": SUBTYPE.get(row["interaction"], "operation")}
        ],
        "action": row["action"],
        "recorded": recorded,
        "outcome": row["outcome"],
        "outcomeDesc": f"HTTP {row['status']}"
        + (f" (and {row['repeats']} more like it, aggregated)" if row.get("repeats") else ""),
        "agent": [agent],
        "source": {"observer": {"display": "lbp-triage"}},
    }
    entities = []
    if row["resource_type"]:
        what = (
            {"reference": f"{row['resource_type']}/{row['resource_id']}"}
            if row["resource_id"]
            else {"display": row["resource_type"]}
        )
        entities.append(
            {
                "what": what,
                "type": {
                    "system": "http://terminology.hl7.org/CodeSystem/audit-entity-type",
                    "code": "2",
                    "display": "System Object",
                },
            }
        )
    if row["patient"]:
        entities.append(
            {
                "what": {"reference": f"Patient/{row['patient']}"},
                "type": {
                    "system": "http://terminology.hl7.org/CodeSystem/audit-entity-type",
                    "code": "1",
                    "display": "Person",
                },
                "role": {
                    "system": "http://terminology.hl7.org/CodeSystem/object-role",
                    "code": "1",
                    "display": "Patient",
                },
            }
        )
    if entities:
        event["entity"] = entities
    return event
