"""The patient's latest triage, wherever it comes from: a QuestionnaireResponse the EHR
prefetched (or that we fetched from its FHIR server), triaged in memory and never stored; or,
when the EHR has none, the latest encounter stored here for that patient.

Both become a LatestTriage: the CarePlan, the disposition and finding codes with their tiers
and the answers behind them, and how long the pain has lasted.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import Engine, select

from app.cds.ranking import tier_at_least
from app.fhir.canonical import CODESYSTEM_URL
from app.fhir.outcome import HttpProblem, Rejected
from app.fhir.r4 import check_structure
from app.rules.findings import FINDING_RULES_BY_CODE
from app.store.tables import TriageEncounter
from app.triage.service import prepare

T = TriageEncounter.__table__
PAIN_DURATION = "pain-duration"
ACUTE = "lt-6w"  # the answer code for pain of less than 6 weeks


@dataclass(frozen=True, slots=True)
class FindingSeen:
    code: str
    tier: str | None  # tier code (E, U, S, D); None when the tables no longer know the finding
    display: str
    answers: str  # the answers behind it, as the CarePlan states them

    @property
    def red_flag(self) -> bool:
        """Tier urgent or above (an unknown finding counts as one: never silence a warning)."""
        return tier_at_least(self.tier, "U")


@dataclass(frozen=True, slots=True)
class LatestTriage:
    patient: str
    disposition: str
    findings: tuple[FindingSeen, ...]
    pain_duration: str | None
    rules_version: str
    careplan: dict[str, Any]
    stored: bool  # True: an encounter stored here; False: triaged in memory from the EHR's data

    @property
    def red_flags(self) -> tuple[FindingSeen, ...]:
        return tuple(f for f in self.findings if f.red_flag)

    @property
    def acute(self) -> bool:
        return self.pain_duration == ACUTE


class Untriageable(Exception):
    """The EHR's latest response cannot be triaged (incomplete or invalid): say so, never guess."""

    def __init__(self, rejected: Rejected) -> None:
        self.faults = rejected.faults
        super().__init__(f"{len(self.faults)} fault(s)")


def _tier(code: str) -> str | None:
    rule = FINDING_RULES_BY_CODE.get(code)
    return rule.tier.name if rule is not None else None


def _reasons(careplan: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """finding code → (display, answers text), from the CarePlan's activity reasons."""
    found: dict[str, tuple[str, str]] = {}
    for activity in careplan.get("activity") or ():
        for reason in (activity.get("detail") or {}).get("reasonCode") or ():
            for coding in reason.get("coding") or ():
                if coding.get("system") == CODESYSTEM_URL and coding.get("code") not in found:
                    found[coding["code"]] = (coding.get("display") or coding["code"], reason.get("text") or "")
    return found


def _answer_code(items: list[Any], link_id: str) -> str | None:
    stack = list(items or ())
    while stack:
        item = stack.pop()
        if not isinstance(item, dict):
            continue
        if item.get("linkId") == link_id:
            for answer in item.get("answer") or ():
                coding = answer.get("valueCoding") if isinstance(answer, dict) else None
                if isinstance(coding, dict):
                    return coding.get("code")
        stack.extend(item.get("item") or ())
    return None


def from_row(row: Any) -> LatestTriage:
    careplan = row["careplan"]
    reasons = _reasons(careplan)
    findings = tuple(FindingSeen(code, _tier(code), *reasons.get(code, (code, ""))) for code in row["findings"])
    return LatestTriage(
        patient=row["patient"],
        disposition=row["disposition"],
        findings=findings,
        pain_duration=_answer_code((row["questionnaire_response"] or {}).get("item") or [], PAIN_DURATION),
        rules_version=row["rules_version"],
        careplan=careplan,
        stored=False,
    )


def stored_latest(engine: Engine, patient: str) -> LatestTriage | None:
    """The latest encounter stored here for the patient."""
    query = (
        select(T.c.patient, T.c.disposition, T.c.findings, T.c.rules_version, T.c.careplan, T.c.questionnaire_response)
        .where(T.c.patient == patient)
        .order_by(T.c.created.desc(), T.c.encounter_id.desc())
        .limit(1)
    )
    with engine.connect() as connection:
        row = connection.execute(query).mappings().first()
    if row is None:
        return None
    return replace(from_row(row), stored=True)


def _subject_patient(resource: dict[str, Any]) -> str | None:
    reference = (resource.get("subject") or {}).get("reference") or ""
    return reference.rsplit("Patient/", 1)[1] if "Patient/" in reference else None


def response_in(value: Any, patient: str) -> dict[str, Any] | None:
    """The QuestionnaireResponse in a prefetch value (a searchset Bundle, the resource, or null).

    Every response must be about the hook's patient: data about anyone else is refused (400),
    never triaged under this patient's name."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise HttpProblem(400, "invalid", "Prefetch lbpResponse must be a Bundle or a QuestionnaireResponse.")
    if value.get("resourceType") == "Bundle":
        responses = [
            e["resource"]
            for e in value.get("entry") or ()
            if isinstance(e, dict)
            and isinstance(e.get("resource"), dict)
            and e["resource"].get("resourceType") == "QuestionnaireResponse"
        ]
    elif value.get("resourceType") == "QuestionnaireResponse":
        responses = [value]
    else:
        raise HttpProblem(400, "invalid", "Prefetch lbpResponse must be a Bundle or a QuestionnaireResponse.")
    if any(_subject_patient(r) != patient for r in responses):
        raise HttpProblem(400, "invalid", "Prefetch lbpResponse holds a response that is not about context.patientId.")
    if not responses:
        return None
    # the newest by `authored`, whether or not the EHR honoured _sort
    return max(responses, key=lambda r: str(r.get("authored") or ""))


def triage_in_memory(response: dict[str, Any]) -> LatestTriage:
    """Validate (as strictly as a $triage body: the R4 JSON Schema's rules first) and triage with
    the $triage use-case, without storing anything."""
    try:
        check_structure(response)
        prepared = prepare(response)
    except Rejected as rejected:
        raise Untriageable(rejected) from None
    return from_row(prepared.row)
