"""Generated QuestionnaireResponses for the benchmarks (seeded, so runs are comparable)."""

from __future__ import annotations

import random
from typing import Any

from app.fhir.canonical import ANSWERS_CODESYSTEM_URL, QUESTIONNAIRE_URL
from app.fhir.questionnaire import items


def random_answers(rng: random.Random) -> dict[str, Any]:
    answers: dict[str, Any] = {}
    for spec in items().values():  # in Questionnaire order: a question's enablers come before it
        if not spec.enabled(answers) or not (spec.required or rng.random() < 0.5):
            continue
        if spec.type == "boolean":
            # warning signs are mostly "no", as in real traffic
            answers[spec.link_id] = rng.random() < (0.08 if spec.group == "warning-signs" else 0.4)
        elif spec.type == "integer":
            answers[spec.link_id] = rng.randint(int(spec.min_value), int(spec.max_value))
        elif spec.type == "decimal":
            answers[spec.link_id] = round(rng.uniform(spec.min_value, spec.max_value), 1)
        else:
            answers[spec.link_id] = rng.choice(sorted(code for _, code in spec.options))
    return answers


def random_response(rng: random.Random, n: int = 0) -> dict[str, Any]:
    items_ = []
    kinds = {"boolean": "valueBoolean", "integer": "valueInteger", "decimal": "valueDecimal"}
    specs = items()
    for link_id, value in random_answers(rng).items():
        kind = specs[link_id].type
        answer = ({"valueCoding": {"system": ANSWERS_CODESYSTEM_URL, "code": value}}
                  if kind == "choice" else {kinds[kind]: value})
        items_.append({"linkId": link_id, "answer": [answer]})
    return {
        "resourceType": "QuestionnaireResponse",
        "identifier": {"system": "urn:bench", "value": f"r-{n}-{rng.getrandbits(48):x}"},
        "questionnaire": QUESTIONNAIRE_URL,
        "status": "completed",
        "subject": {"reference": f"Patient/p{rng.randint(1, 5000)}"},
        "authored": "2026-11-20T10:00:00Z",
        "item": items_,
    }
