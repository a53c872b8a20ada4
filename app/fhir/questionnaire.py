"""The triage Questionnaires (shipped as data, one file per version) and an index of their
items for validation.

Both versions are served and both are accepted: a QuestionnaireResponse naming
`…|1.0.0` is checked against 1.0.0 and triaged by rules 1; `…|2.0.0`, or the url
without a version, against the current 2.0.0 and rules 2. The current version has the
plain id `lbp-triage`; an earlier version is read by the id `lbp-triage-{version}`
(`lbp-triage-1.0.0`), or found by `?url=…|{version}` (see app.conformance.router).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

from app.fhir.canonical import QUESTIONNAIRE_URL

VERSIONS = ("1.0.0", "2.0.0")
CURRENT_VERSION = "2.0.0"
QUESTIONNAIRE_ID = "lbp-triage"

# The FHIR answer element each item type takes.
ANSWER_KEY = {
    "boolean": "valueBoolean",
    "integer": "valueInteger",
    "decimal": "valueDecimal",
    "choice": "valueCoding",
}

# (question linkId, the answer that enables) — answers as the engine holds them (codes for Codings)
Condition = tuple[str, Any]


@dataclass(frozen=True, slots=True)
class EnableWhen:
    """One enableWhen list with its enableBehavior ('all' unless the Questionnaire says 'any')."""

    conditions: tuple[Condition, ...]
    behavior: str = "all"

    def holds(self, answers: dict[str, Any]) -> bool:
        if self.behavior == "any":
            return any(answers.get(question) == wanted for question, wanted in self.conditions)
        for question, wanted in self.conditions:  # noqa: SIM110 — a plain loop: one condition is the common case
            if answers.get(question) != wanted:
                return False
        return True

    def words(self) -> str:
        joiner = " or " if self.behavior == "any" else " and "
        return joiner.join(f"'{question}'" for question, _ in self.conditions)


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
    # The item's own enableWhen and its group's: every one must hold for the item to be enabled.
    enabled_by: tuple[EnableWhen, ...] = ()
    displays: tuple[tuple[str, str], ...] = ()  # (code, display) of each answerOption

    @property
    def answer_key(self) -> str:
        return ANSWER_KEY[self.type]

    @property
    def enable_when(self) -> tuple[Condition, ...]:
        return tuple(c for rule in self.enabled_by for c in rule.conditions)

    def enabled(self, answers: dict[str, Any]) -> bool:
        return all(rule.holds(answers) for rule in self.enabled_by)

    def display(self, code: str) -> str:
        """The words of a choice answer (what the patient picked), not its code."""
        return dict(self.displays).get(code, code)


@dataclass(frozen=True)
class QuestionnaireIndex:
    version: str
    resource: dict[str, Any]
    items: dict[str, ItemSpec]  # question linkId → spec, in Questionnaire order
    groups: dict[str, str]  # group linkId → its text
    # Groups answered all or none: a group the Questionnaire marks `required: false` whose
    # questions are `required: true` (FHIR: required children of an optional group are
    # required when the group is present). Group linkId → its questions.
    all_or_none: dict[str, tuple[str, ...]]
    # Built once per version for the completeness check: the questions that can fault there
    # (required, or asked depending on an answer); the others never do.
    checked: tuple[ItemSpec, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "checked", tuple(s for s in self.items.values() if s.required or s.enabled_by))

    def required_now(self, spec: ItemSpec, answered: set[str]) -> bool:
        """Is this question required, given which questions were answered?"""
        if not spec.required:
            return False
        members = self.all_or_none.get(spec.group)
        return members is None or any(link_id in answered for link_id in members)


def _load(version: str) -> dict[str, Any]:
    path = f"data/questionnaire-{version}.json"
    return json.loads(resources.files("app.fhir").joinpath(path).read_text("utf-8"))


def _range(item: dict[str, Any], bound: str) -> float | None:
    for ext in item.get("extension", ()):
        if ext["url"].endswith(f"/{bound}"):
            return ext.get("valueInteger", ext.get("valueDecimal"))
    return None


def _enable_when(item: dict[str, Any]) -> tuple[EnableWhen, ...]:
    if not item.get("enableWhen"):
        return ()
    conditions = []
    for cond in item["enableWhen"]:
        if cond["operator"] != "=":  # the only operator the triage Questionnaires use
            raise ValueError(f"unsupported enableWhen operator on {item['linkId']}")
        answer = next(v for k, v in cond.items() if k.startswith("answer"))
        if isinstance(answer, dict):  # answerCoding: the engine holds choice answers as codes
            answer = answer["code"]
        conditions.append((cond["question"], answer))
    return (EnableWhen(tuple(conditions), item.get("enableBehavior", "all")),)


@cache
def questionnaire_index(version: str = CURRENT_VERSION) -> QuestionnaireIndex:
    resource = _load(version)
    index: dict[str, ItemSpec] = {}
    all_or_none: dict[str, tuple[str, ...]] = {}
    for group in resource["item"]:
        group_enabled_by = _enable_when(group)
        for item in group["item"]:
            options = tuple(
                (o["valueCoding"]["system"], o["valueCoding"]["code"], o["valueCoding"].get("display", ""))
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
                options=frozenset((system, code) for system, code, _ in options),
                enabled_by=group_enabled_by + _enable_when(item),
                displays=tuple((code, shown) for _, code, shown in options),
            )
        if group.get("required") is False and any(i.get("required") for i in group["item"]):
            all_or_none[group["linkId"]] = tuple(i["linkId"] for i in group["item"])
    groups = {g["linkId"]: g["text"] for g in resource["item"]}
    return QuestionnaireIndex(version, resource, index, groups, all_or_none)


def questionnaire(version: str = CURRENT_VERSION) -> dict[str, Any]:
    """The Questionnaire resource of a version. Callers must not mutate it."""
    return questionnaire_index(version).resource


def questionnaires() -> list[dict[str, Any]]:
    """Every version served, current first."""
    return [questionnaire(CURRENT_VERSION)] + [questionnaire(v) for v in VERSIONS if v != CURRENT_VERSION]


def by_id(resource_id: str) -> dict[str, Any] | None:
    """The current version has the id `lbp-triage`; each earlier one keeps its own id,
    `lbp-triage-{version}` (so `lbp-triage-1.0.0`), written in its data file."""
    return next((q for q in questionnaires() if q["id"] == resource_id), None)


def version_named(canonical: Any) -> str | None:
    """The Questionnaire version a response names in `questionnaire`, or None if it names
    none of ours. The url without a version means the current one."""
    if not isinstance(canonical, str):
        return None
    url, bar, version = canonical.partition("|")
    if url != QUESTIONNAIRE_URL:
        return None
    if not bar:
        return CURRENT_VERSION
    return version if version in VERSIONS else None


def version() -> str:
    return CURRENT_VERSION


def items(version: str = CURRENT_VERSION) -> dict[str, ItemSpec]:
    return questionnaire_index(version).items


def groups(version: str = CURRENT_VERSION) -> dict[str, str]:
    return questionnaire_index(version).groups
