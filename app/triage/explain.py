"""Explain one triage line by line, for a clinician checking a decision.

The answer is a FHIR `Parameters` resource (so it travels like any FHIR payload):

- `rules`: the PlanDefinition url|version of the rules applied; `questionnaire`: the
  Questionnaire url|version the response answers;
- `disposition`: the disposition (Coding);
- one `finding` per finding that fired, most urgent first, with parts `code` (Coding),
  `tier` (E, U, S, D), `source` (the rule row's source), `rule` (the row's condition as the
  rules document writes it), and one `answer` per answer behind it (`linkId`, `question`,
  and `value[x]`: the answer as given, a Coding for a choice; `valueString` "not answered"
  where a rule reads an absent optional answer);
- rules 2: `startback` (`total`, `distress`, `risk`) when answered, and one `medicine` per
  medicine decision (`medicine`, `decision`, `reason`…).

The same for a stored CarePlan (GET /fhir/CarePlan/{id}/$explain) re-runs the stored
response through the rules version stored with it, so the explanation is of that decision.
"""

from __future__ import annotations

from typing import Any

from app.fhir.canonical import ANSWERS_CODESYSTEM_URL, CODESYSTEM_URL, PLANDEFINITION_URL, QUESTIONNAIRE_URL
from app.fhir.codesystem import display
from app.fhir.questionnaire import items
from app.rules import TriageResult, triage
from app.rules.rulesets import RULESETS
from app.triage.validation import ValidatedResponse, validate_response


def _coding(code: str, system: str = CODESYSTEM_URL) -> dict[str, Any]:
    return {"system": system, "code": code, "display": display(code)}


def _value(version: str, link_id: str, value: Any) -> dict[str, Any]:
    spec = items(version).get(link_id)
    if value is None:
        return {"name": "value", "valueString": "not answered"}
    if isinstance(value, bool):
        return {"name": "value", "valueBoolean": value}
    if spec is not None and spec.type == "choice":
        return {
            "name": "value",
            "valueCoding": {"system": ANSWERS_CODESYSTEM_URL, "code": value, "display": spec.display(value)},
        }
    if isinstance(value, int):
        return {"name": "value", "valueInteger": value}
    return {"name": "value", "valueDecimal": value}


def explanation(result: TriageResult, questionnaire_version: str) -> dict[str, Any]:
    rules = RULESETS[result.rules_version]
    questions = items(questionnaire_version)
    parameters: list[dict[str, Any]] = [
        {"name": "rules", "valueCanonical": f"{PLANDEFINITION_URL}|{result.rules_version}"},
        {"name": "questionnaire", "valueCanonical": f"{QUESTIONNAIRE_URL}|{questionnaire_version}"},
        {"name": "disposition", "valueCoding": _coding(result.disposition.code)},
    ]
    for finding in result.findings:
        row = rules.finding(finding.code)
        parts: list[dict[str, Any]] = [
            {"name": "code", "valueCoding": _coding(finding.code)},
            {"name": "tier", "valueCode": finding.tier.name},
            {"name": "source", "valueString": row.source},
            {"name": "rule", "valueString": row.fires_when.words()},
        ]
        for link_id, value in finding.evidence:
            answer = [{"name": "linkId", "valueString": link_id}]
            if link_id in questions:
                answer.append({"name": "question", "valueString": questions[link_id].text})
            answer.append(_value(questionnaire_version, link_id, value))
            parts.append({"name": "answer", "part": answer})
        parameters.append({"name": "finding", "part": parts})
    if result.startback is not None:
        sb = result.startback
        parameters.append(
            {
                "name": "startback",
                "part": [
                    {"name": "total", "valueInteger": sb.total},
                    {"name": "distress", "valueInteger": sb.distress},
                    {"name": "risk", "valueCode": sb.risk.value},
                ],
            }
        )
    for decision in result.medicines:
        parameters.append(
            {
                "name": "medicine",
                "part": [
                    {"name": "medicine", "valueString": decision.medicine},
                    {"name": "decision", "valueString": decision.decision},
                    *({"name": "reason", "valueString": reason} for reason in decision.reasons),
                ],
            }
        )
    return {"resourceType": "Parameters", "parameter": parameters}


def explain_response(data: Any, rules_version: str | None = None) -> dict[str, Any]:
    """Validate and triage a QuestionnaireResponse, and explain the result. Raises
    outcome.Rejected. `rules_version` overrides the version the response names (for a
    stored triage, the rules version stored with it, which is also the Questionnaire version
    it was checked against: rules and Questionnaire versions are numbered together)."""
    response: ValidatedResponse = validate_response(data, rules_version)
    result = triage(response.answers, rules_version or response.version)
    return explanation(result, response.version)
