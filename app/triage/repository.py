"""The encounter repository: the only place that speaks SQL.

Synchronous SQLAlchemy Core (the API calls it from its writer thread): one short
transaction per triage, or one for all the triages a writer has queued (group commit,
app/store/batch.py), keyset paging for searches so that a page costs the same at
ten thousand rows as at a million.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import ColumnElement, Connection, Engine, bindparam, insert, select, text, update
from sqlalchemy.exc import DBAPIError, IntegrityError

from app.fhir.search import SearchQuery
from app.store import batch
from app.store.paging import newest_first
from app.store.tables import AuditRecord, ResourceVersion, TriageEncounter, WebhookOutbox
from app.subscriptions.store import Outbox

T = TriageEncounter.__table__
V = ResourceVersion.__table__

# resource type → (column holding the resource, column holding its id)
RESOURCE_COLUMNS = {
    "CarePlan": (T.c.careplan, T.c.careplan_id),
    "Encounter": (T.c.encounter, T.c.encounter_id),
    "QuestionnaireResponse": (T.c.questionnaire_response, T.c.response_id),
}


_OUTBOX_INSERT = insert(WebhookOutbox.__table__)
_AUDIT_INSERT = insert(AuditRecord.__table__)


class StoredTriage(Protocol):
    """The stored row of an earlier triage, as `judge` reads it: a SQLAlchemy RowMapping
    (its keys may also be columns, so it is no Mapping[str, Any]) or a plain dict."""

    def __getitem__(self, key: str, /) -> Any: ...


class DuplicateIdentifier(Exception):
    """Another encounter already holds this QuestionnaireResponse identifier."""


@dataclass(frozen=True, slots=True)
class Amendment:
    """An amended response triaged again: the triage row's new values, and the versions it
    no longer holds (kept in resource_version)."""

    row: dict[str, Any]
    versions: list[dict[str, Any]]
    replaced: str  # the CarePlan id revoked


# What deciding on an earlier triage of the same identifier needs (and no more).
_EARLIER = (
    T.c.encounter_id,
    T.c.careplan_id,
    T.c.response_id,
    T.c.patient,
    T.c.identifier_system,
    T.c.identifier_value,
    T.c.questionnaire_response,
    T.c.encounter,
    T.c.careplan,
)
# An amendment rewrites these; the ids of the Encounter and response, the patient and the identifier stay.
_AMENDED = (
    "careplan_id",
    "disposition",
    "preference",
    "findings",
    "rules_version",
    "created",
    "authored",
    "version_id",
    "questionnaire_response",
    "encounter",
    "careplan",
)


@dataclass(frozen=True, slots=True)
class _Settled:
    careplan: dict[str, Any]
    kind: str  # "created" | "replayed" | "amended"
    replaced: str | None
    notified: bool  # webhook notifications were written: wake the dispatcher once committed


@dataclass(frozen=True, slots=True)
class Page:
    resources: list[dict[str, Any]]
    total: int
    last_key: tuple[datetime, str] | None  # present when there may be a next page


class EncounterRepository:
    def __init__(self, engine: Engine, outbox: Outbox | None = None) -> None:
        self.engine = engine
        self.outbox = outbox
        # Built once: SQLAlchemy's compiled cache keys on the statement's structure, but building
        # the statement object itself costs tens of µs per triage.
        self._insert = insert(T)
        self._earlier = (
            select(*_EARLIER)
            .where(T.c.identifier_system == bindparam("system"), T.c.identifier_value == bindparam("value"))
            .with_for_update()
        )

    def triage(
        self,
        row: dict[str, Any],
        judge: Callable[[StoredTriage], Amendment | None],
        audit_for: Callable[[str, str], dict[str, Any] | None] | None = None,
    ) -> tuple[dict[str, Any], str, str | None]:
        """Store a triage, or settle it against the earlier triage of the same identifier, in
        one transaction: (CarePlan answered, "created" | "replayed" | "amended", CarePlan revoked).

        The earlier triage's row is locked (SELECT … FOR UPDATE on PostgreSQL; SQLite has one
        writer at a time) while `judge` decides: None replays its current CarePlan, an
        Amendment is written, and an exception rolls everything back. Raises
        DuplicateIdentifier when a concurrent first submission of the identifier won the insert.

        On a writer thread running grouped work, the transaction is the writer's group
        (app/store/batch.py): committed with the triages queued beside it, before anyone is answered."""
        group = batch.current(self.engine)
        if group is not None:
            return self._triage_in_group(group, row, judge, audit_for)
        try:
            with batch.write_lock(self.engine), self.engine.begin() as connection:
                settled = self._settle(connection, row, judge, audit_for, [False])
        except IntegrityError as exc:
            if (
                row["identifier_value"] is not None
                and self.find_by_identifier(row["identifier_system"], row["identifier_value"]) is not None
            ):
                raise DuplicateIdentifier from exc
            raise
        if settled.notified and self.outbox is not None:  # notified: only with an outbox
            self.outbox.written()
        return settled.careplan, settled.kind, settled.replaced

    def _triage_in_group(
        self,
        group: batch.Group,
        row: dict[str, Any],
        judge: Callable[[StoredTriage], Amendment | None],
        audit_for: Callable[[str, str], dict[str, Any] | None] | None,
    ) -> tuple[dict[str, Any], str, str | None]:
        wrote = [False]
        try:
            settled = self._settle(group.join(), row, judge, audit_for, wrote, group)
        except BaseException as exc:
            # A refusal by `judge` comes before any write and leaves the transaction as it was;
            # anything else (a database error, a write half done) spoils it for the whole group.
            if wrote[0] or isinstance(exc, DBAPIError):
                group.spoiled = True
            raise
        if settled.notified and self.outbox is not None:  # notified: only with an outbox
            group.callbacks.append(self.outbox.written)
        return settled.careplan, settled.kind, settled.replaced

    def _settle(
        self,
        connection: Connection,
        row: dict[str, Any],
        judge: Callable[[StoredTriage], Amendment | None],
        audit_for: Callable[[str, str], dict[str, Any] | None] | None,
        wrote: list[bool],
        group: batch.Group | None = None,
    ) -> _Settled:
        """The triage's statements, in the caller's transaction; wrote[0] turns True at the first write.
        In a group, a new triage's rows wait for the group's inserts (group.insert)."""
        earlier = None
        if row["identifier_value"] is not None:
            if group is not None:
                group.flush()  # the lookup must see the rows of the triages before this one
            earlier = (
                connection.execute(
                    self._earlier, {"system": row["identifier_system"], "value": row["identifier_value"]}
                )
                .mappings()
                .first()
            )
        if earlier is None:
            written, kind, replaced = row, "created", None
            wrote[0] = True
            if group is not None:
                group.insert(T, [row])
            else:
                connection.execute(self._insert, row)
            audit = audit_for("create", row["response_id"]) if audit_for else None
        else:
            amendment = judge(earlier)
            if amendment is None:
                return _Settled(earlier["careplan"], "replayed", None, False)
            written, kind, replaced = amendment.row, "amended", amendment.replaced
            wrote[0] = True
            connection.execute(
                update(T)
                .where(T.c.encounter_id == earlier["encounter_id"])
                .values({name: written[name] for name in _AMENDED})
            )
            connection.execute(insert(V), amendment.versions)
            audit = audit_for("update", written["response_id"]) if audit_for else None
        outbox = self.outbox
        notifications = outbox.rows_for_triage(written) if outbox is not None else []
        if group is not None and kind == "created":
            if notifications:
                group.insert(WebhookOutbox.__table__, notifications)
            if audit is not None:  # the audit record commits (or rolls back) with the triage
                group.insert(AuditRecord.__table__, [audit])
        else:
            if notifications:
                connection.execute(_OUTBOX_INSERT, notifications)
            if audit is not None:  # the audit record commits (or rolls back) with the triage
                connection.execute(_AUDIT_INSERT, audit)
        return _Settled(written["careplan"], kind, replaced, bool(notifications))

    def find_by_identifier(self, system: str, value: str) -> dict[str, Any] | None:
        """The current CarePlan of the triage of this response identifier, if any."""
        query = select(T.c.careplan).where(T.c.identifier_system == system, T.c.identifier_value == value)
        with self.engine.connect() as connection:
            return connection.execute(query).scalar_one_or_none()

    def count_by_identifier(self, system: str | None, value: str) -> list[dict[str, Any]]:
        """Up to two triages whose response has this identifier (If-None-Exist), as `judge` reads them."""
        query = select(*_EARLIER).where(T.c.identifier_value == value)
        if system is not None:
            query = query.where(T.c.identifier_system == system)
        with self.engine.connect() as connection:
            return [dict(r) for r in connection.execute(query.limit(2)).mappings()]

    def read(self, resource_type: str, resource_id: str) -> dict[str, Any] | None:
        """The current version: the triage row's, or for a replaced CarePlan its last (revoked) one."""
        column, id_column = RESOURCE_COLUMNS[resource_type]
        with self.engine.connect() as connection:
            found = connection.execute(select(column).where(id_column == resource_id)).scalar_one_or_none()
            if found is None and resource_type == "CarePlan":
                found = connection.execute(
                    select(V.c.resource)
                    .where(V.c.resource_type == resource_type, V.c.resource_id == resource_id)
                    .order_by(V.c.version_id.desc())
                    .limit(1)
                ).scalar_one_or_none()
        return found

    def history(self, resource_type: str, resource_id: str) -> list[dict[str, Any]]:
        """Every version of a resource, newest first (empty when there is no such resource)."""
        column, id_column = RESOURCE_COLUMNS[resource_type]
        with self.engine.connect() as connection:
            current = connection.execute(select(column).where(id_column == resource_id)).scalar_one_or_none()
            earlier = list(
                connection.execute(
                    select(V.c.resource)
                    .where(V.c.resource_type == resource_type, V.c.resource_id == resource_id)
                    .order_by(V.c.version_id.desc())
                ).scalars()
            )
        # An amendment committed between the two reads puts the version read as current into
        # resource_version too: each version once.
        versions = {v["meta"]["versionId"]: v for v in reversed(earlier)}
        if current is not None:
            versions[current["meta"]["versionId"]] = current
        return sorted(versions.values(), key=lambda v: int(v["meta"]["versionId"]), reverse=True)

    def triage_of(self, careplan_id: str) -> tuple[dict[str, Any], dict[str, Any], str] | None:
        """A stored CarePlan with the QuestionnaireResponse and rules version that made it."""
        with self.engine.connect() as connection:
            row = connection.execute(
                select(T.c.careplan, T.c.questionnaire_response, T.c.rules_version).where(
                    T.c.careplan_id == careplan_id
                )
            ).one_or_none()
            if row is not None:
                return row[0], row[1], row[2]
            return _replaced_triage_of(connection, careplan_id)

    def search(self, query: SearchQuery) -> Page:
        column, id_column = RESOURCE_COLUMNS[query.resource_type]
        if query.matches_nothing:
            return Page([], 0, None)
        conditions: list[ColumnElement[bool]] = []
        if query.ids is not None:
            conditions.append(id_column.in_(sorted(query.ids)))
        if query.patient is not None:
            conditions.append(T.c.patient == query.patient)
        if query.dispositions is not None:
            conditions.append(T.c.disposition.in_(sorted(query.dispositions)))
        if query.created_from is not None:
            conditions.append(T.c.created >= query.created_from)
        if query.created_before is not None:
            conditions.append(T.c.created < query.created_before)
        if query.authored_from is not None:
            conditions.append(T.c.authored >= query.authored_from)
        if query.authored_before is not None:
            conditions.append(T.c.authored < query.authored_before)
        with self.engine.connect() as connection:
            rows, total, last_key = newest_first(
                connection, T, [column], T.c.created, T.c.encounter_id, conditions, query.after, query.count
            )
        return Page([r[0] for r in rows], total, last_key)

    def ping(self) -> None:
        with self.engine.connect() as connection:
            connection.execute(text("SELECT 1"))


def _replaced_triage_of(connection: Any, careplan_id: str) -> tuple[dict[str, Any], dict[str, Any], str] | None:
    """A CarePlan an amendment replaced, with the version of the response that made it: the one
    written at the same instant (a triage renders its resources with one timestamp)."""
    versions = connection.execute(
        select(V.c.version_id, V.c.resource, V.c.encounter_id)
        .where(V.c.resource_type == "CarePlan", V.c.resource_id == careplan_id)
        .order_by(V.c.version_id)
    ).all()
    if not versions:
        return None
    made_at = versions[0].resource["meta"]["lastUpdated"]
    current = versions[-1].resource  # revoked
    responses = [
        r.resource
        for r in connection.execute(
            select(V.c.resource).where(
                V.c.resource_type == "QuestionnaireResponse", V.c.encounter_id == versions[0].encounter_id
            )
        )
    ]
    made_from = next((r for r in responses if r["meta"]["lastUpdated"] == made_at), None)
    if made_from is None:
        return None
    rules_version = current["instantiatesCanonical"][0].rpartition("|")[2]
    return current, made_from, rules_version
