"""Render a TriageResult as a FHIR R4 CarePlan.

- status `active`, intent `proposal` (a recommendation awaiting a clinician);
- `category` carries the disposition, `instantiatesCanonical` the PlanDefinition url|version
  of the rules that made the plan (so any past decision can be re-run);
- one activity per plan item, inline in `detail` with its code in `detail.code`; the
  referral-type items are `detail.kind = ServiceRequest` and carry their priority (stat,
  urgent, routine) in an extension, as R4's detail has no priority element;
- the finding codes behind an item in its `reasonCode`, with the answers behind each finding
  in the CodeableConcept's text, so no red flag is lost between the rules and the plan;
- rules 2 with STarT Back answered: its scores as contained Observations (LOINC 91351-7 total,
  91350-9 distress subscale, 91352-5 risk group) referenced from `supportingInfo`.

Codings that depend only on the code tables are built once at import.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from app.fhir.canonical import CODESYSTEM_URL, PLANDEFINITION_URL, PRIORITY_EXTENSION_URL
from app.fhir.codesystem import display, triage_codesystem
from app.rules.concepts import DIRECTIONAL_CAUTION
from app.rules.model import ActivityStatus, PlannedActivity, RiskGroup, StartBack, TriageResult
from app.triage.narrative import careplan_div, evidence_text


def _all_codes() -> list[str]:
    return [c["code"] for group in triage_codesystem()["concept"] for c in group["concept"]]


_CODING = {code: {"system": CODESYSTEM_URL, "code": code, "display": display(code)} for code in _all_codes()}

LOINC = "http://loinc.org"
STARTBACK_TOTAL, STARTBACK_DISTRESS, STARTBACK_RISK = "91351-7", "91350-9", "91352-5"
# LOINC answer codes of the STarT Back risk group (91352-5)
RISK_ANSWER = {RiskGroup.LOW: "LA9194-7", RiskGroup.MEDIUM: "LA8982-6", RiskGroup.HIGH: "LA9193-9"}
_SURVEY = [
    {
        "coding": [
            {
                "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                "code": "survey",
                "display": "Survey",
            }
        ]
    }
]


def _concept(code: str, text: str | None = None) -> dict[str, Any]:
    concept: dict[str, Any] = {"coding": [_CODING[code]]}
    if text:
        concept["text"] = text
    return concept


def _detail_without_reasons(activity: PlannedActivity) -> dict[str, Any]:
    detail: dict[str, Any] = {}
    if activity.priority is not None:
        # R4's activity.detail has no priority element, hence the extension.
        detail["extension"] = [{"url": PRIORITY_EXTENSION_URL, "valueCode": activity.priority.value}]
        detail["kind"] = "ServiceRequest"
    detail["code"] = _concept(activity.code)
    detail["status"] = activity.status.value
    if activity.status is ActivityStatus.ON_HOLD:
        detail["statusReason"] = {"text": activity.hold_reason}
    detail["description"] = activity.description
    return detail


# Activity details are the same for every plan but for their reasons: build each once.
# They are shared between CarePlans, so nothing may mutate a rendered CarePlan's details.
_DETAILS: dict[tuple, dict[str, Any]] = {}
_MAX_DETAILS = 4096


def _detail(activity: PlannedActivity, evidence: dict[str, str]) -> dict[str, Any]:
    key = (activity.code, activity.status, activity.priority, activity.description, activity.hold_reason)
    template = _DETAILS.get(key)
    if template is None:
        if len(_DETAILS) >= _MAX_DETAILS:
            _DETAILS.clear()
        template = _DETAILS[key] = _detail_without_reasons(activity)
    if not activity.reasons:
        return template
    detail = dict(template)
    detail["reasonCode"] = [_concept(code, evidence.get(code)) for code in activity.reasons]
    return detail


def startback_observations(
    scores: StartBack, subject: dict[str, Any], effective: str | None, derived_from: dict[str, Any] | None
) -> list[dict[str, Any]]:
    """The STarT Back scores as Observations, to be contained in the CarePlan."""

    def observation(local_id: str, code: str, text: str, value: dict[str, Any]) -> dict[str, Any]:
        obs: dict[str, Any] = {
            "resourceType": "Observation",
            "id": local_id,
            "status": "final",
            "category": _SURVEY,
            "code": {"coding": [{"system": LOINC, "code": code}], "text": text},
            "subject": subject,
        }
        if effective:
            obs["effectiveDateTime"] = effective
        obs.update(value)
        if derived_from:
            obs["derivedFrom"] = [derived_from]
        return obs

    return [
        observation("startback-total", STARTBACK_TOTAL, "STarT Back total score", {"valueInteger": scores.total}),
        observation(
            "startback-distress",
            STARTBACK_DISTRESS,
            "STarT Back distress subscale score",
            {"valueInteger": scores.distress},
        ),
        observation(
            "startback-risk",
            STARTBACK_RISK,
            "STarT Back risk group",
            {
                "valueCodeableConcept": {
                    "coding": [{"system": LOINC, "code": RISK_ANSWER[scores.risk]}],
                    "text": f"{scores.risk.value.capitalize()} risk",
                }
            },
        ),
    ]


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
    answers: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    evidence = {f.code: evidence_text(f.evidence) for f in result.findings}
    activities = [{"detail": _detail(activity, evidence)} for activity in result.activities]

    careplan: dict[str, Any] = {"resourceType": "CarePlan"}
    if careplan_id:
        careplan["id"] = careplan_id
    if meta:
        careplan["meta"] = meta
    careplan["text"] = {"status": "generated", "div": careplan_div(result, answers)}
    supporting = [response_reference] if response_reference else []
    if result.startback is not None:
        contained = startback_observations(result.startback, subject, created, response_reference)
        careplan["contained"] = contained
        supporting += [{"reference": f"#{obs['id']}", "display": obs["code"]["text"]} for obs in contained]
    careplan["instantiatesCanonical"] = [f"{PLANDEFINITION_URL}|{result.rules_version}"]
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
    if supporting:
        careplan["supportingInfo"] = supporting
    careplan["activity"] = activities
    if result.rules_version == "1.0.0" or any(a.code.startswith("directional-exercise") for a in result.activities):
        # rules 2: no exercise note where there is no exercise (an emergency plan)
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
