"""Generated QuestionnaireResponses for the benchmarks (seeded, so runs are comparable).

Realistic traffic, for either Questionnaire version: warning signs mostly "no" (most
patients have none), a question enabled by an earlier answer answered whenever it is
enabled, an all-or-none group (STarT Back) answered whole or not at all, and the other
optional questions answered often but not always.
"""

from __future__ import annotations

import random
from typing import Any

from app.fhir.canonical import ANSWERS_CODESYSTEM_URL, QUESTIONNAIRE_URL
from app.fhir.questionnaire import CURRENT_VERSION, questionnaire_index

WARNING_SIGN_YES = 0.015  # each warning sign; about a third of patients answer one of them "yes"
FOLLOW_UP_YES = 0.3  # a question asked because of an earlier "yes" (is it new? both legs?)
OTHER_YES = 0.25
OPTIONAL_ANSWERED = 0.7
GROUP_ANSWERED = 0.7  # an optional all-or-none group (STarT Back)


def random_answers(rng: random.Random, version: str = CURRENT_VERSION) -> dict[str, Any]:
    index = questionnaire_index(version)
    answers: dict[str, Any] = {}
    groups_answered = {group: rng.random() < GROUP_ANSWERED for group in index.all_or_none}
    for spec in index.items.values():  # in Questionnaire order: a question's enablers come before it
        if not spec.enabled(answers):
            continue
        if spec.group in groups_answered:
            if not groups_answered[spec.group]:
                continue
        elif not (spec.required or rng.random() < OPTIONAL_ANSWERED):
            continue
        if spec.type == "boolean":
            if spec.group == "warning-signs":
                p_yes = FOLLOW_UP_YES if spec.enabled_by else WARNING_SIGN_YES
            else:
                p_yes = OTHER_YES
            answers[spec.link_id] = rng.random() < p_yes
        elif spec.type == "integer":
            assert spec.min_value is not None and spec.max_value is not None  # every number question is bounded
            answers[spec.link_id] = rng.randint(int(spec.min_value), int(spec.max_value))
        elif spec.type == "decimal":
            assert spec.min_value is not None and spec.max_value is not None
            answers[spec.link_id] = round(rng.uniform(spec.min_value, spec.max_value), 1)
        else:
            answers[spec.link_id] = rng.choice(sorted(code for _, code in spec.options))
    return answers


def random_response(rng: random.Random, n: int = 0, version: str = CURRENT_VERSION) -> dict[str, Any]:
    items_ = []
    kinds = {"boolean": "valueBoolean", "integer": "valueInteger", "decimal": "valueDecimal"}
    specs = questionnaire_index(version).items
    for link_id, value in random_answers(rng, version).items():
        kind = specs[link_id].type
        answer = (
            {"valueCoding": {"system": ANSWERS_CODESYSTEM_URL, "code": value}}
            if kind == "choice"
            else {kinds[kind]: value}
        )
        items_.append({"linkId": link_id, "answer": [answer]})
    return {
        "resourceType": "QuestionnaireResponse",
        "identifier": {"system": "urn:bench", "value": f"r-{n}-{rng.getrandbits(48):x}"},
        "questionnaire": f"{QUESTIONNAIRE_URL}|{version}",
        "status": "completed",
        "subject": {"reference": f"Patient/p{rng.randint(1, 5000)}"},
        "authored": "2026-11-20T10:00:00Z",
        "item": items_,
    }
