"""The encounter repository: the only place that speaks SQL.

Synchronous SQLAlchemy Core (the API calls it from a worker thread): one short
transaction per triage, keyset paging for searches so that a page costs the same at
ten thousand rows as at a million.
"""

from __future__ import annotations

import contextlib
import threading
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, insert, select, text
from sqlalchemy.exc import IntegrityError

from .paging import newest_first
from .subscriptions import Outbox
from .tables import AuditRecord, TriageEncounter, WebhookOutbox

T = TriageEncounter.__table__

# resource type → (column holding the resource, column holding its id)
RESOURCE_COLUMNS = {
    "CarePlan": (T.c.careplan, T.c.careplan_id),
    "Encounter": (T.c.encounter, T.c.encounter_id),
    "QuestionnaireResponse": (T.c.questionnaire_response, T.c.response_id),
}


class DuplicateIdentifier(Exception):
    """Another encounter already holds this QuestionnaireResponse identifier."""


@dataclass(frozen=True, slots=True)
class SearchQuery:
    resource_type: str
    patient: str | None = None
    disposition: str | None = None
    # half-open ranges [start, end) on the date the search parameter names
    created_from: datetime | None = None
    created_before: datetime | None = None
    authored_from: datetime | None = None
    authored_before: datetime | None = None
    count: int = 20
    after: tuple[datetime, str] | None = None  # keyset cursor: (created, encounter_id) of the last row seen
    matches_nothing: bool = False  # contradictory or impossible criteria


@dataclass(frozen=True, slots=True)
class Page:
    resources: list[dict[str, Any]]
    total: int
    last_key: tuple[datetime, str] | None  # present when there may be a next page


class EncounterRepository:
    def __init__(self, engine: Engine, outbox: Outbox | None = None) -> None:
        self.engine = engine
        self.outbox = outbox
        # SQLite has one writer at a time; queueing writers here, in the process, avoids
        # SQLite's busy handler, which sleeps in steps of milliseconds while it waits.
        self._write_lock = threading.Lock() if engine.dialect.name == "sqlite" else contextlib.nullcontext()
        self._insert = insert(T)

    def save(self, row: dict[str, Any], audit: dict[str, Any] | None = None) -> None:
        """Store one triage whole, in one transaction, with its webhook notifications: a
        committed triage always has them, a rolled-back one never."""
        notifications = self.outbox.rows_for_triage(row) if self.outbox is not None else []
        try:
            with self._write_lock, self.engine.begin() as connection:
                connection.execute(self._insert, row)
                if notifications:
                    connection.execute(insert(WebhookOutbox.__table__), notifications)
                if audit is not None:  # the audit record commits (or rolls back) with the triage
                    connection.execute(insert(AuditRecord.__table__), audit)
        except IntegrityError as exc:
            if row.get("identifier_value") is not None and self.find_by_identifier(
                row["identifier_system"], row["identifier_value"]
            ) is not None:
                raise DuplicateIdentifier from exc
            raise
        if notifications:
            self.outbox.written()  # type: ignore[union-attr]

    def find_by_identifier(self, system: str, value: str) -> dict[str, Any] | None:
        """The CarePlan of the encounter made for this response identifier, if any."""
        query = select(T.c.careplan).where(T.c.identifier_system == system, T.c.identifier_value == value)
        with self.engine.connect() as connection:
            return connection.execute(query).scalar_one_or_none()

    def count_by_identifier(self, system: str | None, value: str) -> list[dict[str, Any]]:
        query = select(T.c.careplan).where(T.c.identifier_value == value)
        if system is not None:
            query = query.where(T.c.identifier_system == system)
        with self.engine.connect() as connection:
            return list(connection.execute(query.limit(2)).scalars())

    def read(self, resource_type: str, resource_id: str) -> dict[str, Any] | None:
        column, id_column = RESOURCE_COLUMNS[resource_type]
        with self.engine.connect() as connection:
            return connection.execute(select(column).where(id_column == resource_id)).scalar_one_or_none()

    def triage_of(self, careplan_id: str) -> tuple[dict[str, Any], dict[str, Any], str] | None:
        """A stored CarePlan with the QuestionnaireResponse and rules version that made it."""
        with self.engine.connect() as connection:
            row = connection.execute(
                select(T.c.careplan, T.c.questionnaire_response, T.c.rules_version)
                .where(T.c.careplan_id == careplan_id)
            ).one_or_none()
        return None if row is None else (row[0], row[1], row[2])

    def search(self, query: SearchQuery) -> Page:
        column, _ = RESOURCE_COLUMNS[query.resource_type]
        if query.matches_nothing:
            return Page([], 0, None)
        conditions = []
        if query.patient is not None:
            conditions.append(T.c.patient == query.patient)
        if query.disposition is not None:
            conditions.append(T.c.disposition == query.disposition)
        if query.created_from is not None:
            conditions.append(T.c.created >= query.created_from)
        if query.created_before is not None:
            conditions.append(T.c.created < query.created_before)
        if query.authored_from is not None:
            conditions.append(T.c.authored >= query.authored_from)
        if query.authored_before is not None:
            conditions.append(T.c.authored < query.authored_before)
        with self.engine.connect() as connection:
            rows, total, last_key = newest_first(connection, T, [column], T.c.created, T.c.encounter_id,
                                                 conditions, query.after, query.count)
        return Page([r[0] for r in rows], total, last_key)

    def ping(self) -> None:
        with self.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
