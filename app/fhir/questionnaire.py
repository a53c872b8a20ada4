"""The triage Questionnaire (shipped as data) and an index of its items for validation."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from .canonical import QUESTIONNAIRE_URL

# The FHIR answer element each item type takes.
ANSWER_KEY = {
    "boolean": "valueBoolean",
    "integer": "valueInteger",
    "decimal": "valueDecimal",
    "choice": "valueCoding",
}


@dataclass(frozen=True, slots=True)
class ItemSpec:
    link_id: str
    type: str
    required: bool
    group: str
    text: str
    min_value: float | None = None
    max_value: float | None = None
    options: frozenset[tuple[str, str]] = frozenset()  # (system, code)
    enable_when: tuple[tuple[str, Any], ...] = ()  # (question linkId, required answer)

    @property
    def answer_key(self) -> str:
        return ANSWER_KEY[self.type]


@cache
def questionnaire() -> dict[str, Any]:
    """The Questionnaire resource. Callers must not mutate it."""
    text = resources.files("app.fhir").joinpath("data/questionnaire.json").read_text("utf-8")
    return json.loads(text)


def version() -> str:
    return questionnaire()["version"]


def accepted_canonicals() -> frozenset[str]:
    return frozenset({QUESTIONNAIRE_URL, f"{QUESTIONNAIRE_URL}|{version()}"})


def _range(item: dict[str, Any], bound: str) -> float | None:
    for ext in item.get("extension", ()):
        if ext["url"].endswith(f"/{bound}"):
            return ext.get("valueInteger", ext.get("valueDecimal"))
    return None


def _enable_when(item: dict[str, Any]) -> tuple[tuple[str, Any], ...]:
    conditions = []
    for cond in item.get("enableWhen", ()):
        if cond["operator"] != "=":  # the only operator the triage Questionnaire uses
            raise ValueError(f"unsupported enableWhen operator on {item['linkId']}")
        answer = next(v for k, v in cond.items() if k.startswith("answer"))
        conditions.append((cond["question"], answer))
    return tuple(conditions)


@cache
def groups() -> dict[str, str]:
    """Group linkId → its text."""
    return {g["linkId"]: g["text"] for g in questionnaire()["item"]}


@cache
def items() -> dict[str, ItemSpec]:
    """Question linkId → its spec, in Questionnaire order."""
    index: dict[str, ItemSpec] = {}
    for group in questionnaire()["item"]:
        for item in group["item"]:
            options = frozenset(
                (o["valueCoding"]["system"], o["valueCoding"]["code"])
                for o in item.get("answerOption", ())
            )
            index[item["linkId"]] = ItemSpec(
                link_id=item["linkId"],
                type=item["type"],
                required=item.get("required", False),
                group=group["linkId"],
                text=item["text"],
                min_value=_range(item, "minValue"),
                max_value=_range(item, "maxValue"),
                options=options,
                enable_when=_enable_when(item),
            )
    return index
