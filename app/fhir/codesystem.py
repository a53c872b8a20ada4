"""The project's CodeSystems, built from app.rules.concepts: one for the triage's own
codes (dispositions, findings, activities, preferences), one for the answer codes of
the Questionnaire's choice items."""

from __future__ import annotations

from functools import cache
from typing import Any

from app.fhir.canonical import ANSWERS_CODESYSTEM_URL, CODESYSTEM_URL
from app.rules.concepts import ACTIVITIES, ANSWERS, DISPOSITIONS, FINDINGS, PREFERENCES, STRATIFICATION
from app.rules.engine import RULES_VERSION
from app.rules.rulesets import RULESETS

_DATE = "2026-11-25"
_GROUPS = (
    ("disposition", "Disposition", "Where the patient goes next, most urgent first.", DISPOSITIONS),
    ("finding", "Finding", "A clinical finding from the answers; its tier sets the disposition.", FINDINGS),
    ("activity", "Plan activity", "An item of the CarePlan.", ACTIVITIES),
    ("preference", "Directional preference", "Which movements make the pain worse.", PREFERENCES),
    ("stratification", "Stratified care", "The STarT Back risk group behind a referral (rules 2).", STRATIFICATION),
)


def _finding_rows(code: str) -> list[tuple[str, Any]]:
    """(rules version, row) for every rules version whose findings table has the code."""
    return [
        (version, rules.finding(code))
        for version, rules in RULESETS.items()
        if any(rule.code == code for rule in rules.findings)
    ]


def _concept(code: str, display: str, definition: str) -> dict[str, Any]:
    concept: dict[str, Any] = {"code": code, "display": display, "definition": definition}
    rows = _finding_rows(code)
    if rows:
        _version, rule = rows[-1]  # tier and source of the newest rules that use the code
        concept["property"] = [
            {"code": "tier", "valueCode": rule.tier.name},
            {"code": "source", "valueString": rule.source},
            *({"code": "rules-version", "valueString": v} for v, _ in rows),
        ]
    return concept


@cache
def triage_codesystem() -> dict[str, Any]:
    return {
        "resourceType": "CodeSystem",
        "id": "lbp-triage",
        "url": CODESYSTEM_URL,
        "version": RULES_VERSION,
        "name": "LowBackPainTriageCodes",
        "title": "Low back pain triage: dispositions, findings, activities and preferences",
        "status": "active",
        "date": _DATE,
        "publisher": "lbp-triage",
        "description": "Codes the low back pain triage service reports in its CarePlans.",
        "caseSensitive": True,
        "hierarchyMeaning": "grouped-by",
        "content": "complete",
        "count": sum(len(table) for *_, table in _GROUPS) + len(_GROUPS),
        "property": [
            {
                "code": "notSelectable",
                "uri": "http://hl7.org/fhir/concept-properties#notSelectable",
                "description": "A grouping concept, not used in data.",
                "type": "boolean",
            },
            {
                "code": "tier",
                "description": "Finding tier in the newest rules that use it: E emergency, "
                "U urgent, S doctor soon (rules 2), D doctor.",
                "type": "code",
            },
            {
                "code": "source",
                "description": "Where the rule comes from (newest rules that use it).",
                "type": "string",
            },
            {
                "code": "rules-version",
                "description": "A rules version whose findings table has this code.",
                "type": "string",
            },
        ],
        "concept": [
            {
                "code": group,
                "display": display,
                "definition": definition,
                "property": [{"code": "notSelectable", "valueBoolean": True}],
                "concept": [_concept(code, *texts) for code, texts in table.items()],
            }
            for group, display, definition, table in _GROUPS
        ],
    }


@cache
def answers_codesystem() -> dict[str, Any]:
    return {
        "resourceType": "CodeSystem",
        "id": "lbp-triage-answers",
        "url": ANSWERS_CODESYSTEM_URL,
        "version": "2.0.0",
        "name": "LowBackPainTriageAnswers",
        "title": "Low back pain triage: answer codes",
        "status": "active",
        "date": _DATE,
        "publisher": "lbp-triage",
        "description": "Answer codes of the triage Questionnaire's choice questions.",
        "caseSensitive": True,
        "content": "complete",
        "count": len(ANSWERS),
        "concept": [_concept(code, *texts) for code, texts in ANSWERS.items()],
    }


def codesystems() -> dict[str, dict[str, Any]]:
    """CodeSystem id → resource."""
    return {cs["id"]: cs for cs in (triage_codesystem(), answers_codesystem())}


def display(code: str) -> str:
    for table in (DISPOSITIONS, FINDINGS, ACTIVITIES, PREFERENCES, STRATIFICATION):
        if code in table:
            return table[code][0]
    raise KeyError(code)
