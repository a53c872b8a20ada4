"""The triage use-case behind POST $triage: validate, triage, render, store once.

Idempotent by the QuestionnaireResponse's identifier: a response already triaged gets
back the CarePlan made the first time, whether the second submission came later or at
the same moment (the database's unique constraint settles races).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from app.fhir.encounter import render_encounter
from app.scoring import careplan_for, score
from app.store.repository import DuplicateIdentifier, EncounterRepository


@dataclass(frozen=True, slots=True)
class Submitted:
    careplan: dict[str, Any]
    created: bool  # False when an earlier triage of the same response was returned


@dataclass(frozen=True, slots=True)
class Prepared:
    """A triage computed and rendered, ready to store: the row and the CarePlan it holds."""

    row: dict[str, Any]
    identifier: tuple[str, str] | None

    @property
    def careplan(self) -> dict[str, Any]:
        return self.row["careplan"]


def _instant(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _parse_authored(value: Any) -> datetime | None:
    if not isinstance(value, str) or "T" not in value:
        return None  # partial dates are not indexed for search
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else None


def prepare(data: Any) -> Prepared:
    """Validate, triage and render: CPU only, no I/O. Raises outcome.Rejected."""
    scored = score(data)
    identifier = scored.response.identifier
    now = datetime.now(timezone.utc)
    at = _instant(now)
    meta = {"versionId": "1", "lastUpdated": at}
    encounter_id, careplan_id, response_id = (str(uuid.uuid4()) for _ in range(3))
    subject = scored.response.subject
    result = scored.result

    response = dict(scored.response.resource, id=response_id, meta=meta)
    encounter = render_encounter(encounter_id, result.disposition, subject, at, meta)
    careplan = careplan_for(
        scored,
        careplan_id=careplan_id,
        meta=meta,
        created=at,
        response_reference={"reference": f"QuestionnaireResponse/{response_id}"},
        encounter_reference={"reference": f"Encounter/{encounter_id}"},
    )
    row = {
        "encounter_id": encounter_id,
        "careplan_id": careplan_id,
        "response_id": response_id,
        "patient": scored.response.patient_id,
        "disposition": result.disposition.code,
        "preference": result.preference.value,
        "findings": list(result.finding_codes),
        "rules_version": result.rules_version,
        "created": now,
        "authored": _parse_authored(scored.response.resource.get("authored")),
        "identifier_system": identifier[0] if identifier else None,
        "identifier_value": identifier[1] if identifier else None,
        "version_id": 1,
        "questionnaire_response": response,
        "encounter": encounter,
        "careplan": careplan,
    }
    return Prepared(row, identifier)


def store(prepared: Prepared, repository: EncounterRepository, audit: dict[str, Any] | None = None) -> Submitted:
    """Store a prepared triage once: a response already triaged (same identifier) gets
    the CarePlan made the first time instead."""
    identifier = prepared.identifier
    if identifier is not None:
        earlier = repository.find_by_identifier(*identifier)
        if earlier is not None:
            return Submitted(earlier, created=False)
    try:
        repository.save(prepared.row, audit)
    except DuplicateIdentifier:  # a concurrent submission of the same response won
        earlier = repository.find_by_identifier(*identifier)  # type: ignore[misc]
        return Submitted(earlier, created=False)  # type: ignore[arg-type]
    return Submitted(prepared.careplan, created=True)


def submit(data: Any, repository: EncounterRepository) -> Submitted:
    """The whole use-case in one call (validate, triage, render, store)."""
    return store(prepare(data), repository)
