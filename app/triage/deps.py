"""Dependencies for the triage feature's part of the running app's services (app/services.py).

$triage is the hot path, and FastAPI solves each dependency of a route on every request (some
10 µs apiece here): its route takes the app's parts it needs as one object made once by the
lifespan (TriageServices), beside the request's context. Reads and searches take the
repository alone (Encounters).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from app.settings import Settings
from app.store.writer import DatabaseWriter
from app.triage.repository import EncounterRepository


@dataclass(frozen=True, slots=True)
class TriageServices:
    settings: Settings
    repository: EncounterRepository
    writer: DatabaseWriter


async def encounter_repository(request: Request) -> EncounterRepository:
    repository: EncounterRepository = request.app.state.services.repository
    return repository


async def triage_services(request: Request) -> TriageServices:
    triage: TriageServices = request.app.state.services.triage
    return triage


Encounters = Annotated[EncounterRepository, Depends(encounter_repository)]
Triaging = Annotated[TriageServices, Depends(triage_services)]
