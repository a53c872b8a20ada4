"""Builders for Questionnaire 2.0.0 and rules 2 (tests/support.py holds those of 1.0.0)."""

from __future__ import annotations

from typing import Any

from app.fhir.canonical import QUESTIONNAIRE_URL
from app.fhir.questionnaire import questionnaire_index
from app.rules import triage
from app.rules.findings_v2 import INFLAMMATORY_ITEMS
from app.rules.rulesets import RULES_V2
from app.rules.stratification import STARTBACK_ITEMS
from tests.support import build_response, typed_answer

INDEX = questionnaire_index("2.0.0")
ITEMS = INDEX.items
QUESTIONNAIRE_V2 = f"{QUESTIONNAIRE_URL}|2.0.0"

# Every required warning sign that is always asked (no enableWhen)
WARNING_SIGNS_V2 = [s.link_id for s in ITEMS.values() if s.group == "warning-signs" and not s.enabled_by]
# The questions asked only after a "yes" (or a listed answer) elsewhere
DEPENDENT_QUESTIONS = [s.link_id for s in ITEMS.values() if s.enabled_by]

# A healthy 40-year-old with acute, back-only pain and every warning sign answered "no".
BASELINE_V2: dict[str, Any] = {
    "age": 40,
    "pain-intensity": 4,
    "pain-duration": "lt-6w",
    "pain-new-or-worse": False,
    "pain-unbearable": False,
    "pain-at-rest": False,
    "pain-radiation": "back-only",
    "injury": False,
    **{sign: False for sign in WARNING_SIGNS_V2},
}


def enabled_dependents_default_no(answers: dict[str, Any]) -> dict[str, Any]:
    """Answer "no" to each newly enabled required question not already answered, and drop
    answers to questions that are disabled (in Questionnaire order, so chains resolve)."""
    for spec in ITEMS.values():
        if not spec.enabled_by:
            continue
        if spec.enabled(answers):
            if spec.required and spec.type == "boolean":
                answers.setdefault(spec.link_id, False)
        else:
            answers.pop(spec.link_id, None)
    return answers


def answers_v2(**overrides: Any) -> dict[str, Any]:
    """BASELINE_V2 with overrides; keyword names use _ for -, None removes an answer.
    Newly enabled questions default to "no" unless given."""
    answers = dict(BASELINE_V2)
    for key, value in overrides.items():
        link_id = key.replace("_", "-")
        if value is None:
            answers.pop(link_id, None)
        else:
            answers[link_id] = value
    return enabled_dependents_default_no(answers)


def startback_answers(agree: int = 0, distress_agree: int = 0, bothersome: str = "slightly") -> dict[str, Any]:
    """STarT Back answers: `agree` of items 1-4 agreed, `distress_agree` of items 5-8 agreed,
    item 9 as given."""
    answers: dict[str, Any] = {}
    for n, link_id in enumerate(STARTBACK_ITEMS[:4]):
        answers[link_id] = "agree" if n < agree else "disagree"
    for n, link_id in enumerate(STARTBACK_ITEMS[4:8]):
        answers[link_id] = "agree" if n < distress_agree else "disagree"
    answers["sbt-9"] = bothersome
    return answers


def triage_v2(answers: dict[str, Any]):
    return triage(answers, RULES_V2)


def answer_v2(link_id: str, value: Any) -> dict[str, Any]:
    return typed_answer(ITEMS[link_id].type, value)


def response_v2(
    answers: dict[str, Any] | None = None,
    *,
    nested: bool = False,
    patient: str = "p1",
    questionnaire: str = QUESTIONNAIRE_V2,
    **fields: Any,
) -> dict[str, Any]:
    """A QuestionnaireResponse to Questionnaire 2.0.0, flat at the root or nested in groups."""
    return build_response(
        BASELINE_V2 if answers is None else answers,
        ITEMS,
        questionnaire,
        "2026-11-25T10:00:00Z",
        nested=nested,
        patient=patient,
        **fields,
    )


__all__ = ["INFLAMMATORY_ITEMS", "STARTBACK_ITEMS"]
