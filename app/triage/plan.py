"""The mechanism behind every activities table: facts in, planned activities out.

A table is a tuple of `ActivityRule` rows. Each row says, as small functions of the
`PlanFacts`, whether the activity is in the plan, whether it waits (and why), its
priority, the findings behind it and the text the patient reads. The walk in
`evaluate_rows` holds no clinical rule of its own: every rule is in a row.

Rows see only `PlanFacts`, a frozen summary of the triage (disposition, preference,
findings, yes-answers, age, BMI, duration, STarT Back risk). Because nothing else is in
reach, the facts themselves are the plan-cache key: a row cannot come to depend on
something the key leaves out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Callable

from .model import (
    ActivityStatus,
    Answers,
    Disposition,
    Finding,
    PlannedActivity,
    Preference,
    Priority,
    RiskGroup,
)


@dataclass(frozen=True, slots=True)
class PlanFacts:
    """All that an activity row may read."""

    disposition: Disposition
    preference: Preference
    findings: tuple[str, ...]  # finding codes that fired, in table order (most urgent first)
    yes: frozenset[str]  # boolean questions answered "yes"
    age: int | None
    bmi: float | None  # in binary floating point, as rules 1 compare it; None unless both were answered
    bmi_rounded: Decimal | None  # rules 2: decimal arithmetic, rounded half-up to one decimal
    pain_duration: str | None
    startback_risk: RiskGroup | None

    @classmethod
    def of(cls, disposition: Disposition, preference: Preference, findings: tuple[Finding, ...],
           answers: Answers, startback_risk: RiskGroup | None = None) -> "PlanFacts":
        age = answers.get("age")
        duration = answers.get("pain-duration")
        return cls(
            disposition=disposition,
            preference=preference,
            findings=tuple(f.code for f in findings),
            yes=frozenset(link_id for link_id, value in answers.items() if value is True),
            age=age if isinstance(age, int) and not isinstance(age, bool) else None,
            bmi=body_mass_index(answers),
            bmi_rounded=body_mass_index_rounded(answers),
            pain_duration=duration if isinstance(duration, str) else None,
            startback_risk=startback_risk,
        )

    @property
    def emergency(self) -> bool:
        return self.disposition is Disposition.EMERGENCY

    @property
    def self_care(self) -> bool:
        return self.disposition is Disposition.SELF_CARE

    def said_yes(self, link_id: str) -> bool:
        return link_id in self.yes

    def has(self, finding: str) -> bool:
        return finding in self.findings

    def age_below(self, years: int) -> bool:
        return self.age is not None and self.age < years

    def age_at_least(self, years: int) -> bool:
        return self.age is not None and self.age >= years


def body_mass_index(answers: Answers) -> float | None:
    height, weight = answers.get("height-cm"), answers.get("weight-kg")
    if not height or not weight or isinstance(height, (bool, str)) or isinstance(weight, (bool, str)):
        return None
    return float(weight) / (float(height) / 100.0) ** 2


def body_mass_index_rounded(answers: Answers) -> Decimal | None:
    """BMI in decimal arithmetic from the answers, rounded half-up to one decimal
    (160 cm / 64 kg is exactly 25.0, where binary floats give 24.999…)."""
    if body_mass_index(answers) is None:
        return None
    metres = Decimal(repr(float(answers["height-cm"]))) / 100  # type: ignore[arg-type]
    exact = Decimal(repr(float(answers["weight-kg"]))) / (metres * metres)  # type: ignore[arg-type]
    return exact.quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


FactTest = Callable[[PlanFacts], bool]


def never(facts: PlanFacts) -> None:
    return None


def no_reasons(facts: PlanFacts) -> tuple[str, ...]:
    return ()


def every_finding(facts: PlanFacts) -> tuple[str, ...]:
    # The disposition's own activity carries every finding, most urgent first, so that
    # no red flag is lost on the way to the CarePlan, whatever its tier.
    return facts.findings


def findings_among(*codes: str) -> Callable[[PlanFacts], tuple[str, ...]]:
    return lambda facts: tuple(code for code in codes if facts.has(code))


@dataclass(frozen=True, slots=True)
class ActivityRule:
    """One row of an activities table."""

    row: str  # the row's name in the rules document (and the activity code, unless `code` picks one)
    included_when: FactTest
    text: Callable[[PlanFacts], str]  # what the patient reads
    held_because: Callable[[PlanFacts], str | None] = never  # a reason to wait, or None
    priority: Callable[[PlanFacts], Priority | None] = never
    reasons: Callable[[PlanFacts], tuple[str, ...]] = no_reasons
    code: Callable[[PlanFacts], str] | None = None  # e.g. the directional exercise by preference
    ask_clinician_first: FactTest = lambda facts: False


def evaluate_rows(rows: tuple[ActivityRule, ...], facts: PlanFacts) -> tuple[PlannedActivity, ...]:
    """Walk the table: every row whose condition holds becomes a planned activity."""
    planned = []
    for rule in rows:
        if not rule.included_when(facts):
            continue
        hold_reason = rule.held_because(facts)
        planned.append(PlannedActivity(
            code=rule.code(facts) if rule.code else rule.row,
            status=ActivityStatus.ON_HOLD if hold_reason else ActivityStatus.NOT_STARTED,
            reasons=rule.reasons(facts),
            priority=rule.priority(facts),
            ask_clinician_first=rule.ask_clinician_first(facts),
            description=rule.text(facts),
            hold_reason=hold_reason,
        ))
    return tuple(planned)


@dataclass
class Planner:
    """A table with a bounded cache of its plans, keyed by the facts the rows read."""

    rows: tuple[ActivityRule, ...]
    max_plans: int = 4096
    _plans: dict[PlanFacts, tuple[PlannedActivity, ...]] = field(default_factory=dict, repr=False)

    def plan(self, facts: PlanFacts) -> tuple[PlannedActivity, ...]:
        plan = self._plans.get(facts)
        if plan is None:
            if len(self._plans) >= self.max_plans:
                self._plans.clear()  # memory stays bounded whatever the mix of inputs
            plan = self._plans[facts] = evaluate_rows(self.rows, facts)
        return plan
