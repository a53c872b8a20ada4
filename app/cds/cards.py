"""The cards each service answers with (CDS Hooks 2.0 § Card), from a LatestTriage.

Card text is built from the project's own tables (displays, answer codes, the rules version):
nothing the EHR sent is echoed into markdown.
"""

from __future__ import annotations

import uuid
from typing import Any

from app.cds.latest import LatestTriage
from app.cds.ranking import card_indicator
from app.fhir.canonical import BASE, CODESYSTEM_URL, PLANDEFINITION_URL

SERVICE_LABEL = "lbp-triage"
OVERRIDE_SYSTEM = f"{BASE}/CodeSystem/lbp-cds-override-reason"
# Why a clinician may keep a lumbar imaging order the service advised against.
IMAGING_OVERRIDE_REASONS: tuple[tuple[str, str], ...] = (
    ("red-flag-on-examination", "A red flag found on examination, not in the questionnaire"),
    ("symptoms-progressing", "Symptoms progressing despite care"),
    ("procedure-planned", "Imaging needed to plan an injection or surgery"),
    ("specialist-request", "Requested by a specialist"),
)
IMAGING_ADVICE = (
    "Imaging rarely changes care in the first weeks of back pain without red flags. The patient guide "
    '(§ Imaging Studies): "We rarely need to obtain X-rays, MRIs, or other imaging studies to determine '
    "what is causing your low back pain and what to do to make it better. Imaging studies do not show "
    'pain." Imaging in the first 6 weeks without red flags is what the quality measure CMS166 (Low Back '
    "Pain: Use of Imaging Studies) counts against."
)


def source(rules_version: str, topic: str | None = None) -> dict[str, Any]:
    found: dict[str, Any] = {
        "label": f"{SERVICE_LABEL} (rules {rules_version})",
        "url": f"{PLANDEFINITION_URL}|{rules_version}",
    }
    if topic:
        found["topic"] = {"system": CODESYSTEM_URL, "code": topic}
    return found


def _disposition_words(triage: LatestTriage) -> str:
    for coding in (triage.careplan.get("category") or [{}])[0].get("coding") or ():
        if coding.get("code") == triage.disposition and coding.get("display"):
            return coding["display"]
    return triage.disposition


def _findings_markdown(triage: LatestTriage) -> list[str]:
    if not triage.findings:
        return ["No red flags or other findings."]
    lines = ["Findings (answers behind each):"]
    for finding in triage.findings:
        tier = f"tier {finding.tier}" if finding.tier else "tier unknown to these rules"
        answers = f" — {finding.answers}" if finding.answers else ""
        lines.append(f"- **{finding.display}** (`{finding.code}`, {tier}){answers}")
    return lines


def _plan_markdown(careplan: dict[str, Any]) -> list[str]:
    lines = ["Plan:"]
    for activity in careplan.get("activity") or ():
        detail = activity.get("detail") or {}
        coding = ((detail.get("code") or {}).get("coding") or [{}])[0]
        held = " (on hold)" if detail.get("status") == "on-hold" else ""
        lines.append(f"- {coding.get('display') or coding.get('code')}{held}")
    return lines


def careplan_for_ehr(careplan: dict[str, Any]) -> dict[str, Any]:
    """The CarePlan as the EHR should create it: no id or meta of ours, and no references to
    resources that live only here (the EHR keeps its own encounter and response)."""
    return {k: v for k, v in careplan.items() if k not in ("id", "meta", "encounter", "supportingInfo", "replaces")}


def triage_card(triage: LatestTriage, careplan_page: str | None) -> dict[str, Any]:
    words = _disposition_words(triage)
    where = (
        "the latest triage stored by lbp-triage"
        if triage.stored
        else "the EHR's latest low back pain questionnaire, triaged now (not stored)"
    )
    detail = "\n".join(
        [
            f"**Disposition: {triage.disposition}** — {words}.",
            "",
            *_findings_markdown(triage),
            "",
            *_plan_markdown(triage.careplan),
            "",
            f"From {where}; rules version {triage.rules_version}. The plan is a proposal awaiting a "
            "clinician's review.",
        ]
    )
    card: dict[str, Any] = {
        "uuid": str(uuid.uuid4()),
        "summary": f"Low back pain triage: {words}"[:139],
        "detail": detail,
        "indicator": card_indicator(triage.disposition),
        "source": source(triage.rules_version, triage.disposition),
        "selectionBehavior": "at-most-one",
        "suggestions": [
            {
                "label": "Add the triage CarePlan to the chart",
                "uuid": str(uuid.uuid4()),
                "isRecommended": True,
                "actions": [
                    {
                        "type": "create",
                        "description": f"Create the low back pain CarePlan ({triage.disposition}).",
                        "resource": careplan_for_ehr(triage.careplan),
                    }
                ],
            }
        ],
    }
    if careplan_page:
        card["links"] = [{"label": "Read the CarePlan", "url": careplan_page, "type": "absolute"}]
    return card


def untriageable_card(fault_count: int, rules_version: str) -> dict[str, Any]:
    """The EHR's latest response cannot be triaged: a missing warning sign is never a "no"."""
    return {
        "uuid": str(uuid.uuid4()),
        "summary": "Low back pain questionnaire incomplete: no triage possible",
        "detail": f"The latest low back pain questionnaire for this patient breaks the questionnaire's "
        f"rules ({fault_count} fault(s), e.g. an unanswered warning sign), so it was not triaged. Ask the "
        "warning-sign questions again before deciding on care.",
        "indicator": "warning",
        "source": source(rules_version),
    }


def _order_words(order: dict[str, Any]) -> str:
    codings = (order.get("code") or {}).get("coding") or ()
    for coding in codings:
        if isinstance(coding, dict) and isinstance(coding.get("code"), str):
            return f"CPT {coding['code']}"
    return "lumbar spine imaging"


def imaging_warning_card(triage: LatestTriage, order: dict[str, Any]) -> dict[str, Any]:
    order_id = order.get("id")
    card: dict[str, Any] = {
        "uuid": str(uuid.uuid4()),
        "summary": "Imaging rarely changes care in the first weeks of back pain without red flags",
        "detail": "\n".join(
            [
                IMAGING_ADVICE,
                "",
                f"This patient's latest triage ({triage.disposition}, rules version {triage.rules_version}): pain "
                "for less than 6 weeks and no finding of urgent tier or above.",
                "",
                *_findings_markdown(triage),
            ]
        ),
        "indicator": "warning",
        "source": source(triage.rules_version),
        "overrideReasons": [
            {"system": OVERRIDE_SYSTEM, "code": code, "display": display} for code, display in IMAGING_OVERRIDE_REASONS
        ],
    }
    if isinstance(order_id, str) and order_id:
        card["selectionBehavior"] = "at-most-one"
        card["suggestions"] = [
            {
                "label": "Remove the imaging order",
                "uuid": str(uuid.uuid4()),
                "isRecommended": True,
                "actions": [
                    {
                        "type": "delete",
                        "description": f"Remove the draft order for {_order_words(order)}.",
                        "resourceId": [f"ServiceRequest/{order_id}"],
                    }
                ],
            }
        ]
    return card


def imaging_red_flags_card(triage: LatestTriage) -> dict[str, Any]:
    names = ", ".join(f.display for f in triage.red_flags)
    return {
        "uuid": str(uuid.uuid4()),
        "summary": f"Imaging may be indicated: red flags {names}"[:139],
        "detail": "\n".join(
            [
                f"The patient's latest triage ({triage.disposition}, rules version {triage.rules_version}) found "
                "red flags, for which imaging may be indicated:",
                "",
                *(f"- **{f.display}** (`{f.code}`) — {f.answers}" for f in triage.red_flags),
            ]
        ),
        "indicator": "info",
        "source": source(triage.rules_version),
    }
