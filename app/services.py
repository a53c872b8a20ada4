"""The running application's services: what the lifespan opens, on one typed object.

The lifespan (app/main.py) sets one Services on `app.state.services` once the database is open.
Routes reach each part through the dependency of the package that owns it, e.g.
`app.triage.deps.Encounters`, `app.store.deps.Writer`; tests and tools through `services(app)`.
Settings, the keyring and the refusal counter exist before the lifespan (create_app makes them)
and stay on `app.state` (settings through `app.settings.AppSettings`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, FastAPI, Request
from sqlalchemy import Engine

from app.security.audit import AuditRepository
from app.store.sqlite_files import SqliteFiles
from app.store.writer import DatabaseWriter
from app.subscriptions.dispatcher import Dispatcher
from app.subscriptions.outbound import OutboundPolicy
from app.subscriptions.store import SubscriptionRepository
from app.triage.deps import TriageServices
from app.triage.repository import EncounterRepository


@dataclass(frozen=True, slots=True)
class Services:
    engine: Engine
    triage: TriageServices  # settings, the encounter repository and the writer: what $triage takes in one dependency
    subscriptions: SubscriptionRepository
    outbound_policy: OutboundPolicy
    audit: AuditRepository
    schema_ready: Callable[[], bool]  # migrated (migrating first when automatic)? retried until true
    sqlite_files: SqliteFiles | None  # the SQLite database's files, watched; None on PostgreSQL
    dispatcher: Dispatcher | None  # None: deliveries run in worker processes

    # Kept once, in `triage`: a replaced writer (a benchmark's) is the one every path sees.
    @property
    def repository(self) -> EncounterRepository:
        return self.triage.repository

    @property
    def writer(self) -> DatabaseWriter:
        return self.triage.writer


def services(app: FastAPI) -> Services:
    """The services of an app whose lifespan runs."""
    found: Services = app.state.services
    return found


async def app_services(request: Request) -> Services:
    return services(request.app)


AppServices = Annotated[Services, Depends(app_services)]
