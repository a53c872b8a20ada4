"""Render a TriageResult as a FHIR R4 CarePlan.

- status `active`, intent `proposal` (a recommendation awaiting a clinician);
- `category` carries the disposition, `instantiatesCanonical` the rules' PlanDefinition|version;
- one activity per plan item, inline in `detail` with its code in `detail.code`; the
  referral-type items are `detail.kind = ServiceRequest` and carry their priority (stat,
  urgent, routine) in an extension, as R4's detail has no priority element;
- the finding codes behind an item in its `reasonCode`, with the answers behind each finding
  in the CodeableConcept's text, so no red flag is lost between the rules and the plan.

Codings that depend only on the rules version are built once at import.
"""

from __future__ import annotations

from typing import Any

from app.triage.concepts import (
    ACETAMINOPHEN_WITH_CAUTION,
    DIRECTIONAL_CAUTION,
    ON_HOLD_REASON,
    PATIENT_TEXT,
)
from app.triage.engine import RULES_VERSION
from app.triage.model import ActivityStatus, PlannedActivity, TriageResult

from .canonical import CODESYSTEM_URL, PLANDEFINITION_URL, PRIORITY_EXTENSION_URL
from .codesystem import display, triage_codesystem
from .narrative import careplan_div, evidence_text


def _all_codes() -> list[str]:
    return [c["code"] for group in triage_codesystem()["concept"] for c in group["concept"]]


_CODING = {code: {"system": CODESYSTEM_URL, "code": code, "display": display(code)} for code in _all_codes()}
_INSTANTIATES = [f"{PLANDEFINITION_URL}|{RULES_VERSION}"]
_ON_HOLD = {"text": ON_HOLD_REASON}


def _concept(code: str, text: str | None = None) -> dict[str, Any]:
    concept: dict[str, Any] = {"coding": [_CODING[code]]}
    if text:
        concept["text"] = text
    return concept


def _patient_text(activity: PlannedActivity) -> str:
    if activity.ask_clinician_first:
        return ACETAMINOPHEN_WITH_CAUTION
    if activity.code.startswith("directional-exercise-"):
        return f"{PATIENT_TEXT[activity.code]} {DIRECTIONAL_CAUTION}"
    return PATIENT_TEXT[activity.code]


def _detail_without_reasons(activity: PlannedActivity) -> dict[str, Any]:
    detail: dict[str, Any] = {}
    if activity.priority is not None:
        # R4's activity.detail has no priority element, hence the extension.
        detail["extension"] = [{"url": PRIORITY_EXTENSION_URL, "valueCode": activity.priority.value}]
        detail["kind"] = "ServiceRequest"
    detail["code"] = _concept(activity.code)
    detail["status"] = activity.status.value
    if activity.status is ActivityStatus.ON_HOLD:
        detail["statusReason"] = _ON_HOLD
    detail["description"] = _patient_text(activity)
    return detail


# Activity details are the same for every plan but for their reasons: build each once.
# They are shared between CarePlans, so nothing may mutate a rendered CarePlan's details.
_DETAILS: dict[tuple, dict[str, Any]] = {}


def _detail(activity: PlannedActivity, evidence: dict[str, str]) -> dict[str, Any]:
    key = (activity.code, activity.status, activity.priority, activity.ask_clinician_first)
    template = _DETAILS.get(key)
    if template is None:
        template = _DETAILS[key] = _detail_without_reasons(activity)
    if not activity.reasons:
        return template
    detail = dict(template)
    detail["reasonCode"] = [_concept(code, evidence.get(code)) for code in activity.reasons]
    return detail


def render_careplan(
    result: TriageResult,
    subject: dict[str, Any],
    *,
    careplan_id: str | None = None,
    meta: dict[str, Any] | None = None,
    created: str | None = None,
    response_reference: dict[str, Any] | None = None,
    encounter_reference: dict[str, Any] | None = None,
    replaces: dict[str, Any] | None = None,
) -> dict[str, Any]:
    evidence = {f.code: evidence_text(f.evidence) for f in result.findings}
    activities = [{"detail": _detail(activity, evidence)} for activity in result.activities]

    careplan: dict[str, Any] = {"resourceType": "CarePlan"}
    if careplan_id:
        careplan["id"] = careplan_id
    if meta:
        careplan["meta"] = meta
    careplan["text"] = {"status": "generated", "div": careplan_div(result)}
    careplan["instantiatesCanonical"] = _INSTANTIATES
    if replaces:  # the plan of an earlier version of the same response, revoked by this one
        careplan["replaces"] = [replaces]
    careplan["status"] = "active"
    careplan["intent"] = "proposal"
    careplan["category"] = [_concept(result.disposition.code)]
    careplan["title"] = "Low back pain triage"
    careplan["description"] = display(result.disposition.code)
    careplan["subject"] = subject
    if encounter_reference:
        careplan["encounter"] = encounter_reference
    if created:
        careplan["period"] = {"start": created}  # what the `date` search parameter reads
        careplan["created"] = created
    if response_reference:
        careplan["supportingInfo"] = [response_reference]
    careplan["activity"] = activities
    careplan["note"] = [{"text": DIRECTIONAL_CAUTION}]
    return careplan


def response_reference(resource: dict[str, Any]) -> dict[str, Any] | None:
    """How the CarePlan points back at the QuestionnaireResponse it came from."""
    if resource.get("id"):
        return {"reference": f"QuestionnaireResponse/{resource['id']}"}
    ident = resource.get("identifier")
    if ident:
        return {"type": "QuestionnaireResponse", "identifier": dict(ident)}
    return None
