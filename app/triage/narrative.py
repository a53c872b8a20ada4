"""The CarePlan's generated XHTML narrative: what a clinician reads at a glance.

Rules 1: disposition, every finding with the answers behind it, the directional
preference, and the activities with their status (unchanged, so that old plans re-render
the same). Rules 2 adds, in a clinician's voice and with answer words instead of codes:
the pain score, radiation, duration, BMI, STarT Back scores, and every medicine decision
with its reason. Every text comes from the project's own tables or the Questionnaire
(answers are booleans, numbers or listed codes), so nothing a patient typed is echoed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import cache
from html import escape
from typing import Any

from app.fhir.codesystem import display, triage_codesystem
from app.fhir.questionnaire import items
from app.rules.concepts import DIRECTIONAL_CAUTION
from app.rules.model import ActivityStatus, AnswerValue, Finding, MedicineDecision, TriageResult

_TIER_WORDS = {"E": "Emergency", "U": "Urgent", "S": "Doctor soon", "D": "Doctor"}


class _Memo(dict[Any, str]):
    """Pieces of narrative made once and reused: a bounded dict that makes what it lacks.
    Its keys come from the rule tables and the Questionnaire (finding codes, answer words,
    medicine decisions), so few distinct ones occur; the bound only guards memory."""

    __slots__ = ("limit", "make")

    def __init__(self, make: Callable[[Any], str], limit: int = 4096) -> None:
        super().__init__()
        self.make = make
        self.limit = limit

    def __missing__(self, key: Any) -> str:
        if len(self) >= self.limit:
            self.clear()
        value = self[key] = self.make(key)
        return value


# Answer values as keys: True and 1 are equal in Python but are different answers here.
def _typed(value: AnswerValue | None) -> tuple[type, AnswerValue | None]:
    return value.__class__, value


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


def _evidence_text(evidence: tuple[tuple[str, AnswerValue | None], ...]) -> str:
    return "; ".join(f"{link_id}: {answer_words(value)}" for link_id, value in evidence)


_EVIDENCE_TEXT = _Memo(lambda key: _evidence_text(key[1]))


def evidence_text(evidence: tuple[tuple[str, AnswerValue | None], ...]) -> str:
    # keyed by the evidence with each value's type beside it (a yes is not a 1)
    return _EVIDENCE_TEXT[tuple(_typed(v) for _, v in evidence), evidence]


def _codes() -> list[str]:
    return [c["code"] for group in triage_codesystem()["concept"] for c in group["concept"]]


@cache
def _fragments(version: str) -> dict[str, dict]:
    codes = _codes()
    shown = {code: escape(display(code)) for code in codes}
    questions = {link_id: escape(spec.text) for link_id, spec in items(version).items()}

    def evidence_piece(key: tuple[str, type, AnswerValue | None]) -> str:
        link_id, _, value = key
        if link_id not in questions:
            return escape(link_id)
        return f"{questions[link_id]} <i>{escape(_answer_shown(version, link_id, value))}</i>"

    def finding_row(key: tuple[Finding, tuple[type, ...]]) -> str:
        finding = key[0]
        behind = "<br/>".join(evidence[link_id, value.__class__, value] for link_id, value in finding.evidence)
        return f"<tr><td>{_TIER_WORDS[finding.tier.name]}</td><td>{shown[finding.code]}</td><td>{behind}</td></tr>"

    def activity_item(key: tuple[str, str | None]) -> str:
        code, hold_reason = key
        held = f" (on hold: {escape(hold_reason.rstrip('.').lower())})" if hold_reason else ""
        return f"<li>{shown[code]}{held}</li>"

    def medicine_item(decision: MedicineDecision) -> str:
        why = f": {'; '.join(decision.reasons)}" if decision.reasons else ""
        return f"<li>{escape(decision.medicine)} {escape(decision.decision)}{escape(why)}</li>"

    evidence = _Memo(evidence_piece)
    return {
        "display": shown,
        "question": questions,
        "item": {
            (code, held): f"<li>{escape(display(code))}"
            + (" (on hold until a doctor clears the patient)" if held else "")
            + "</li>"
            for code in codes
            for held in (False, True)
        },
        # rules 2 pieces, each made the first time it is needed
        "finding_row": _Memo(finding_row),  # keyed with the evidence's types: a yes is not a 1
        "activity_item": _Memo(activity_item),
        "medicine_item": _Memo(medicine_item),
        "fact_label": _Memo(lambda label: f"<tr><th>{escape(label)}</th><td>"),
        "fact_value": _Memo(lambda value: f"{escape(value)}</td></tr>"),
        "answer_shown": _Memo(lambda key: _answer_shown_uncached(version, key[0], key[2])),
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
        parts.append("<table><thead><tr><th>Tier</th><th>Finding</th><th>Answers behind it</th></tr></thead><tbody>")
        for finding in result.findings:
            answers = "<br/>".join(
                f"{questions[link_id]} <i>{escape(answer_words(value))}</i>" for link_id, value in finding.evidence
            )
            parts.append(
                f"<tr><td>{_TIER_WORDS[finding.tier.name]}</td>"
                f"<td>{shown[finding.code]} (<code>{finding.code}</code>)</td><td>{answers}</td></tr>"
            )
        parts.append("</tbody></table>")
    else:
        parts.append("<p>No red flags or other findings.</p>")
    parts.append(f"<p>Directional preference: {shown[result.preference.value]}. {escape(DIRECTIONAL_CAUTION)}</p><ul>")
    item = text["item"]
    for activity in result.activities:
        parts.append(item[activity.code, activity.status is ActivityStatus.ON_HOLD])
    parts.append("</ul></div>")
    return "".join(parts)


def _answer_shown_uncached(version: str, link_id: str, value: AnswerValue | None) -> str:
    """An answer as the patient saw it: the option's words for a choice, never its code."""
    spec = items(version).get(link_id)
    if spec is not None and spec.type == "choice" and isinstance(value, str):
        return spec.display(value).lower()
    return answer_words(value)


def _answer_shown(version: str, link_id: str, value: AnswerValue | None) -> str:
    return _fragments(version)["answer_shown"][link_id, value.__class__, value]


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
    rows.append(
        ("BMI", f"{result.bmi:.1f} kg/m²" if result.bmi is not None else "not known (height or weight not given)")
    )
    if result.startback is not None:
        sb = result.startback
        rows.append(("STarT Back", f"total {sb.total}/9, distress subscale {sb.distress}/5: {sb.risk.value} risk"))
    else:
        rows.append(("STarT Back", "not answered"))
    return rows


def _careplan_div_v2(result: TriageResult, answers: Mapping[str, Any]) -> str:
    version = result.rules_version
    text = _fragments(version)
    shown = text["display"]
    disposition = result.disposition.code
    parts = [
        '<div xmlns="http://www.w3.org/1999/xhtml">',
        f"<h2>Low back pain triage: {shown[disposition]}</h2>",
        f"<p>Triaged by rules version {escape(version)}. This plan is a proposal for a clinician to "
        "review; the patient has been shown it.</p><table><tbody>",
    ]
    label_cell, value_cell = text["fact_label"], text["fact_value"]
    for label, value in _facts_rows(result, answers):
        parts.append(label_cell[label] + value_cell[value])
    parts.append("</tbody></table>")
    if result.findings:
        parts.append(
            "<p>Findings, most urgent first:</p><table><thead><tr><th>Tier</th><th>Finding</th>"
            "<th>Patient's answers behind it</th></tr></thead><tbody>"
        )
        finding_row = text["finding_row"]
        parts.extend(
            [finding_row[finding, tuple([v.__class__ for _, v in finding.evidence])] for finding in result.findings]
        )
        parts.append("</tbody></table>")
    else:
        parts.append("<p>No red flags or other findings.</p>")
    if result.medicines:
        parts.append("<p>Medicines:</p><ul>")
        medicine_item = text["medicine_item"]
        parts.extend([medicine_item[decision] for decision in result.medicines])
        parts.append("</ul>")
    if result.disposition.code != "emergency":  # no exercise in an emergency plan
        parts.append(
            f"<p>Directional preference (from self-report, not an examination): {shown[result.preference.value]}.</p>"
        )
    parts.append("<p>Plan:</p><ul>")
    activity_item = text["activity_item"]
    parts.extend([activity_item[activity.code, activity.hold_reason] for activity in result.activities])
    parts.append("</ul></div>")
    return "".join(parts)
