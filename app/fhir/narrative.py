"""The CarePlan's generated XHTML narrative: what a clinician reads at a glance.

Disposition first, then every finding with the answers behind it, the directional
preference, and the activities with their status. Every text comes from the project's
own tables (answers are booleans, numbers or listed codes), so the escaped fragments
are built once and only joined per plan.
"""

from __future__ import annotations

from functools import cache
from html import escape

from app.triage.concepts import DIRECTIONAL_CAUTION
from app.triage.model import ActivityStatus, AnswerValue, TriageResult

from .codesystem import display, triage_codesystem
from .questionnaire import items

_TIER_WORDS = {"E": "Emergency", "U": "Urgent", "D": "Doctor"}


def answer_words(value: AnswerValue) -> str:
    if value is True:
        return "yes"
    if value is False:
        return "no"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def evidence_text(evidence: tuple[tuple[str, AnswerValue], ...]) -> str:
    return "; ".join(f"{link_id}: {answer_words(value)}" for link_id, value in evidence)


@cache
def _fragments() -> dict[str, dict]:
    codes = [c["code"] for group in triage_codesystem()["concept"] for c in group["concept"]]
    return {
        "display": {code: escape(display(code)) for code in codes},
        "question": {link_id: escape(spec.text) for link_id, spec in items().items()},
        "item": {
            (code, held): f"<li>{escape(display(code))}"
            + (" (on hold until a doctor clears the patient)" if held else "") + "</li>"
            for code in codes for held in (False, True)
        },
    }


def careplan_div(result: TriageResult) -> str:
    text = _fragments()
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
