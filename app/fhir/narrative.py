"""The CarePlan's generated XHTML narrative: what a clinician reads at a glance.

Rules 1: disposition, every finding with the answers behind it, the directional
preference, and the activities with their status (unchanged, so that old plans re-render
the same). Rules 2 adds, in a clinician's voice and with answer words instead of codes:
the pain score, radiation, duration, BMI, STarT Back scores, and every medicine decision
with its reason. Every text comes from the project's own tables or the Questionnaire
(answers are booleans, numbers or listed codes), so nothing a patient typed is echoed.
"""

from __future__ import annotations

from functools import cache
from html import escape
from typing import Any, Mapping

from app.triage.concepts import DIRECTIONAL_CAUTION
from app.triage.model import ActivityStatus, AnswerValue, TriageResult

from .codesystem import display, triage_codesystem
from .questionnaire import items

_TIER_WORDS = {"E": "Emergency", "U": "Urgent", "S": "Doctor soon", "D": "Doctor"}


def answer_words(value: AnswerValue | None) -> str:
    if value is None:
        return "not answered"
    if value is True:
        return "yes"
    if value is False:
        return "no"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def evidence_text(evidence: tuple[tuple[str, AnswerValue | None], ...]) -> str:
    return "; ".join(f"{link_id}: {answer_words(value)}" for link_id, value in evidence)


def _codes() -> list[str]:
    return [c["code"] for group in triage_codesystem()["concept"] for c in group["concept"]]


@cache
def _fragments(version: str) -> dict[str, dict]:
    codes = _codes()
    return {
        "display": {code: escape(display(code)) for code in codes},
        "question": {link_id: escape(spec.text) for link_id, spec in items(version).items()},
        "item": {
            (code, held): f"<li>{escape(display(code))}"
            + (" (on hold until a doctor clears the patient)" if held else "") + "</li>"
            for code in codes for held in (False, True)
        },
    }


def careplan_div(result: TriageResult, answers: Mapping[str, Any] | None = None) -> str:
    if result.rules_version == "1.0.0":
        return _careplan_div_v1(result)
    return _careplan_div_v2(result, answers or {})


def _careplan_div_v1(result: TriageResult) -> str:
    text = _fragments(result.rules_version)
    shown, questions = text["display"], text["question"]
    disposition = result.disposition.code
    parts = [
        '<div xmlns="http://www.w3.org/1999/xhtml">',
        f"<h2>Low back pain triage: {shown[disposition]}</h2>",
        f"<p>Disposition <b>{disposition}</b>; rules version {escape(result.rules_version)}. "
        "This plan is a proposal awaiting a clinician's review.</p>",
    ]
    if result.findings:
        parts.append("<table><thead><tr><th>Tier</th><th>Finding</th><th>Answers behind it</th></tr>"
                     "</thead><tbody>")
        for finding in result.findings:
            answers = "<br/>".join(
                f"{questions[link_id]} <i>{escape(answer_words(value))}</i>"
                for link_id, value in finding.evidence
            )
            parts.append(
                f"<tr><td>{_TIER_WORDS[finding.tier.name]}</td>"
                f"<td>{shown[finding.code]} (<code>{finding.code}</code>)</td><td>{answers}</td></tr>"
            )
        parts.append("</tbody></table>")
    else:
        parts.append("<p>No red flags or other findings.</p>")
    parts.append(f"<p>Directional preference: {shown[result.preference.value]}. "
                 f"{escape(DIRECTIONAL_CAUTION)}</p><ul>")
    item = text["item"]
    for activity in result.activities:
        parts.append(item[activity.code, activity.status is ActivityStatus.ON_HOLD])
    parts.append("</ul></div>")
    return "".join(parts)


def _answer_shown(version: str, link_id: str, value: AnswerValue | None) -> str:
    """An answer as the patient saw it: the option's words for a choice, never its code."""
    spec = items(version).get(link_id)
    if spec is not None and spec.type == "choice" and isinstance(value, str):
        return spec.display(value).lower()
    return answer_words(value)


def _facts_rows(result: TriageResult, answers: Mapping[str, Any]) -> list[tuple[str, str]]:
    version = result.rules_version
    rows = []
    if "age" in answers:
        rows.append(("Age", f"{answers['age']} years"))
    if "pain-intensity" in answers:
        rows.append(("Worst pain, last 24 hours", f"{answers['pain-intensity']}/10"))
    if "pain-radiation" in answers:
        rows.append(("Pain travels", _answer_shown(version, "pain-radiation", answers["pain-radiation"])))
    if "pain-duration" in answers:
        rows.append(("Duration of this episode", _answer_shown(version, "pain-duration", answers["pain-duration"])))
    rows.append(("BMI", f"{result.bmi:.1f} kg/m²" if result.bmi is not None else "not known (height or weight not given)"))
    if result.startback is not None:
        sb = result.startback
        rows.append(("STarT Back", f"total {sb.total}/9, distress subscale {sb.distress}/5: {sb.risk.value} risk"))
    else:
        rows.append(("STarT Back", "not answered"))
    return rows


def _careplan_div_v2(result: TriageResult, answers: Mapping[str, Any]) -> str:
    version = result.rules_version
    text = _fragments(version)
    shown, questions = text["display"], text["question"]
    disposition = result.disposition.code
    parts = [
        '<div xmlns="http://www.w3.org/1999/xhtml">',
        f"<h2>Low back pain triage: {shown[disposition]}</h2>",
        f"<p>Triaged by rules version {escape(version)}. This plan is a proposal for a clinician to "
        "review; the patient has been shown it.</p><table><tbody>",
    ]
    for label, value in _facts_rows(result, answers):
        parts.append(f"<tr><th>{escape(label)}</th><td>{escape(value)}</td></tr>")
    parts.append("</tbody></table>")
    if result.findings:
        parts.append("<p>Findings, most urgent first:</p><table><thead><tr><th>Tier</th><th>Finding</th>"
                     "<th>Patient's answers behind it</th></tr></thead><tbody>")
        for finding in result.findings:
            behind = "<br/>".join(
                f"{questions[link_id]} <i>{escape(_answer_shown(version, link_id, value))}</i>"
                if link_id in questions else escape(link_id)
                for link_id, value in finding.evidence
            )
            parts.append(f"<tr><td>{_TIER_WORDS[finding.tier.name]}</td><td>{shown[finding.code]}</td>"
                         f"<td>{behind}</td></tr>")
        parts.append("</tbody></table>")
    else:
        parts.append("<p>No red flags or other findings.</p>")
    if result.medicines:
        parts.append("<p>Medicines:</p><ul>")
        for decision in result.medicines:
            why = f": {'; '.join(decision.reasons)}" if decision.reasons else ""
            parts.append(f"<li>{escape(decision.medicine)} {escape(decision.decision)}{escape(why)}</li>")
        parts.append("</ul>")
    if result.disposition.code != "emergency":  # no exercise in an emergency plan
        parts.append(f"<p>Directional preference (from self-report, not an examination): "
                     f"{shown[result.preference.value]}.</p>")
    parts.append("<p>Plan:</p><ul>")
    for activity in result.activities:
        held = f" (on hold: {escape(activity.hold_reason.rstrip('.').lower())})" if activity.hold_reason else ""
        parts.append(f"<li>{shown[activity.code]}{held}</li>")
    parts.append("</ul></div>")
    return "".join(parts)
