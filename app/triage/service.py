"""The triage use-case behind POST $triage: validate, triage, render, store once.

A QuestionnaireResponse's identifier names one response through its lifecycle:

| the same identifier again, with…                      | answer                                      |
| ----------------------------------------------------- | ------------------------------------------- |
| another subject                                       | 409, naming nothing of the earlier response |
| the same content (ignoring `id` and `meta`)           | 200, the current CarePlan (a replay)        |
| other content and `status: amended`                   | 201, a new triage (the amendment below)     |
| other content, not `amended`                          | 409: send it as `amended`                   |

An amendment is triaged afresh and stored in one transaction: the QuestionnaireResponse and
Encounter keep their ids and take a new version, the new CarePlan `replaces` the earlier one,
and the earlier one becomes `revoked` in a new version of its own. The triage's row is locked
while this is decided, so concurrent amendments line up into one chain of versions.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import anyio

from app.fhir.outcome import HttpProblem
from app.kit.clock import instant
from app.kit.ids import time_ordered_id
from app.security.principal import patient_of
from app.store.writer import DatabaseWriter
from app.triage.encounter import render_encounter
from app.triage.repository import Amendment, DuplicateIdentifier, EncounterRepository, StoredTriage
from app.triage.scoring import Scored, careplan_for, score

# Every message is the same whoever's response the identifier holds: nothing of it is named.
ANOTHER_SUBJECT = (
    "This identifier already names a QuestionnaireResponse about another subject, and a "
    "response cannot change its subject. Give this response an identifier of its own."
)
NOT_AMENDED = (
    "A different QuestionnaireResponse was already triaged under this identifier. To correct its "
    "answers, send the whole corrected response with status 'amended': it is triaged again and "
    "its new CarePlan replaces the earlier one. Otherwise give this response its own identifier."
)
OTHER_MATCH = (
    "If-None-Exist matched a QuestionnaireResponse that differs from this one. Send the same "
    "response to get its CarePlan, or correct it under its own identifier with status 'amended'."
)

AuditFor = Callable[[str, str], "dict[str, Any] | None"]  # (interaction, QuestionnaireResponse id) → row


class Conflict(HttpProblem):
    """The identifier (or If-None-Exist) names a response this one may not replay or amend (409).
    Only ever one of the texts above, so that nothing of the response the identifier holds is told."""

    def __init__(self, text: str) -> None:
        super().__init__(409, "conflict", text)


@dataclass(frozen=True, slots=True)
class Submitted:
    careplan: dict[str, Any]
    created: bool  # False when an earlier triage of the same response was returned
    replaced: str | None = None  # the CarePlan id an amendment revoked


@dataclass(frozen=True, slots=True)
class Prepared:
    """A triage computed and rendered, ready to store: the row and the CarePlan it holds."""

    row: dict[str, Any]
    identifier: tuple[str, str] | None
    scored: Scored

    @property
    def careplan(self) -> dict[str, Any]:
        return self.row["careplan"]

    @property
    def content(self) -> dict[str, Any]:
        """What was validated, as compared with an earlier submission."""
        return _content(self.scored.response.resource)


def _content(resource: Mapping[str, Any]) -> dict[str, Any]:
    # id and meta are the server's: a client may echo them back, or not
    return {k: v for k, v in resource.items() if k not in ("id", "meta")}


def _parse_authored(value: Any) -> datetime | None:
    if not isinstance(value, str) or "T" not in value:
        return None  # partial dates are not indexed for search
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else None


def _meta(version: int, at: str) -> dict[str, str]:
    return {"versionId": str(version), "lastUpdated": at}


def _version(resource: Mapping[str, Any]) -> int:
    return int(resource["meta"]["versionId"])


def _render(
    scored: Scored,
    now: datetime,
    *,
    encounter_id: str,
    careplan_id: str,
    response_id: str,
    response_version: int = 1,
    encounter_version: int = 1,
    replaces: str | None = None,
) -> dict[str, Any]:
    """The triage row: the three resources and the columns searches use."""
    at = instant(now)
    subject = scored.response.subject
    result = scored.result
    identifier = scored.response.identifier
    response = dict(scored.response.resource, id=response_id, meta=_meta(response_version, at))
    encounter = render_encounter(encounter_id, result.disposition, subject, at, _meta(encounter_version, at))
    careplan = careplan_for(
        scored,
        careplan_id=careplan_id,
        meta=_meta(1, at),
        created=at,
        response_reference={"reference": f"QuestionnaireResponse/{response_id}"},
        encounter_reference={"reference": f"Encounter/{encounter_id}"},
        replaces={"reference": f"CarePlan/{replaces}"} if replaces else None,
    )
    return {
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
        "version_id": response_version,
        "questionnaire_response": response,
        "encounter": encounter,
        "careplan": careplan,
    }


def prepare(data: Any, fast_path_done: bool = False) -> Prepared:
    """Validate, triage and render: CPU only, no I/O. Raises outcome.Rejected.
    `fast_path_done`: see validation.check_fhir."""
    scored = score(data, fast_path_done)
    encounter_id, careplan_id, response_id = time_ordered_id(), time_ordered_id(), time_ordered_id()
    row = _render(
        scored, datetime.now(UTC), encounter_id=encounter_id, careplan_id=careplan_id, response_id=response_id
    )
    return Prepared(row, scored.response.identifier, scored)


def _same_subject(earlier: StoredTriage, prepared: Prepared) -> bool:
    if earlier["patient"] is not None or prepared.row["patient"] is not None:
        return earlier["patient"] == prepared.row["patient"]
    # logical (identifier) subjects: the same only when written the same
    return earlier["questionnaire_response"].get("subject") == prepared.scored.response.resource.get("subject")


def judge(earlier: StoredTriage, prepared: Prepared, *, by_identifier: bool = True) -> Amendment | None:
    """What a submission matching an earlier triage gets: None (a replay of the current
    CarePlan), an Amendment to store, or a Conflict."""
    if not _same_subject(earlier, prepared):
        raise Conflict(ANOTHER_SUBJECT)
    if _content(earlier["questionnaire_response"]) == prepared.content:
        return None
    if not by_identifier:
        raise Conflict(OTHER_MATCH)
    if prepared.scored.response.resource.get("status") != "amended":
        raise Conflict(NOT_AMENDED)
    return amendment(earlier, prepared)


def amendment(earlier: StoredTriage, prepared: Prepared) -> Amendment:
    """The amended response triaged again, as the next version of the earlier triage."""
    now = datetime.now(UTC)
    at = instant(now)
    old_response, old_encounter, old_careplan = (
        earlier["questionnaire_response"],
        earlier["encounter"],
        earlier["careplan"],
    )
    row = _render(
        prepared.scored,
        now,
        encounter_id=earlier["encounter_id"],
        careplan_id=prepared.row["careplan_id"],
        response_id=earlier["response_id"],
        response_version=_version(old_response) + 1,
        encounter_version=_version(old_encounter) + 1,
        replaces=earlier["careplan_id"],
    )
    revoked_version = _version(old_careplan) + 1
    revoked = dict(old_careplan, status="revoked", meta=dict(old_careplan["meta"], **_meta(revoked_version, at)))
    superseded = [
        ("QuestionnaireResponse", old_response),
        ("Encounter", old_encounter),
        ("CarePlan", old_careplan),
        ("CarePlan", revoked),
    ]
    versions = [
        {
            "resource_type": kind,
            "resource_id": resource["id"],
            "version_id": _version(resource),
            "encounter_id": earlier["encounter_id"],
            "patient": earlier["patient"],
            "resource": resource,
        }
        for kind, resource in superseded
    ]
    return Amendment(row=row, versions=versions, replaced=earlier["careplan_id"])


def store(prepared: Prepared, repository: EncounterRepository, audit_for: AuditFor | None = None) -> Submitted:
    """Store a prepared triage once, or replay or amend the earlier triage of its identifier."""

    def judged(earlier: StoredTriage) -> Amendment | None:
        return judge(earlier, prepared)

    for _ in range(2):
        try:
            careplan, kind, replaced = repository.triage(prepared.row, judged, audit_for)
        except DuplicateIdentifier:  # a concurrent first submission of this identifier won: judge against it
            continue
        return Submitted(careplan, created=kind != "replayed", replaced=replaced)
    raise RuntimeError("the identifier's triage could not be read back")  # pragma: no cover


def submit(data: Any, repository: EncounterRepository) -> Submitted:
    """The whole use-case in one call (validate, triage, render, store)."""
    return store(prepare(data), repository)


# Submitting from the API: who may see which earlier triage, and If-None-Exist.


def _patient_system(system: str | None, patient: str) -> str:
    """Where a patient-level token's identifier is kept when another patient's triage holds it."""
    return f"urn:lbp-triage:patient:{patient}:{system or ''}"


def _for_patient(prepared: Prepared, patient: str, repository: EncounterRepository) -> Prepared:
    """A patient-level token's triage whose identifier another patient's triage holds: kept
    under an identifier system of the patient's own, so that it is triaged (and replayed)
    exactly as an unknown identifier would be, and the other triage is neither shown nor hinted at."""
    if prepared.identifier is None:  # nothing to keep apart: a response without identifier is always new
        return prepared
    system, value = prepared.identifier
    earlier = repository.find_by_identifier(system, value)
    if earlier is None or patient_of(earlier) == patient:
        return prepared
    own = _patient_system(system, patient)
    return Prepared({**prepared.row, "identifier_system": own}, (own, value), prepared.scored)


def _earlier(
    condition: tuple[str | None, str], repository: EncounterRepository, patient: str | None = None
) -> dict[str, Any] | None:
    matches = repository.count_by_identifier(*condition)
    if patient is not None:
        # A patient-level token sees only its patient's triages: another patient's match is no
        # match at all (answering otherwise would tell that it exists).
        system, value = condition
        if system is not None:
            matches = [*matches, *repository.count_by_identifier(_patient_system(system, patient), value)]
        matches = [m for m in matches if m["patient"] == patient]
    if len(matches) > 1:
        raise HttpProblem(412, "duplicate", "If-None-Exist matched more than one QuestionnaireResponse.")
    return matches[0] if matches else None


def _matched(earlier: dict[str, Any], prepared: Prepared) -> Submitted | None:
    """If-None-Exist matched `earlier`: its CarePlan when this is the same response of the same
    patient; None to go on by the body's own identifier when that is the one matched."""
    if prepared.identifier == (earlier["identifier_system"], earlier["identifier_value"]):
        return None  # the identifier's lifecycle decides (a replay, an amendment or a conflict)
    judge(earlier, prepared, by_identifier=False)  # a replay, or Conflict
    return Submitted(earlier["careplan"], created=False)


async def triage_and_store(
    prepared: Prepared,
    *,
    condition: tuple[str | None, str] | None,
    patient_only: str | None,
    repository: EncounterRepository,
    writer: DatabaseWriter,
    audit_for: AuditFor | None,
) -> Submitted:
    """Store a validated, triaged response (or replay or amend its identifier's triage), as
    $triage and PlanDefinition/$apply with persist=true do. `patient_only` is the patient a
    patient-level token is bound to; `condition` is If-None-Exist's identifier. Raises
    Conflict when the identifier (or the condition) names a response this one may not replay."""
    if patient_only is not None and prepared.identifier is not None:
        # No existence oracle: another patient's identifier is, to a patient token, an unknown one.
        prepared = await anyio.to_thread.run_sync(_for_patient, prepared, patient_only, repository)
    if condition is not None:
        earlier = await anyio.to_thread.run_sync(_earlier, condition, repository, patient_only)
        if earlier is not None:
            submitted = _matched(earlier, prepared)
            if submitted is not None:
                return submitted
    result: Submitted = await writer.run_grouped(store, prepared, repository, audit_for)
    return result
