"""The mechanism behind every activities table: facts in, planned activities out.

A table is a tuple of `ActivityRule` rows. Each row says, as small functions of the
`PlanFacts`, whether the activity is in the plan, whether it waits (and why), its
priority, the findings behind it and the text the patient reads. The walk in
`evaluate_rows` holds no clinical rule of its own: every rule is in a row.

Rows see only `PlanFacts`, a frozen summary of the triage (disposition, preference,
findings, yes-answers, age, BMI, duration, STarT Back risk). Plans are cached by what the
rows actually read (`FactsCache`): a plan is computed once through a view of the facts
that records every question asked of them ("said yes to pregnant?", "age below 16?",
"the disposition"), and the cache key is the answers to those questions. (Reasons that
copy every finding are filled in after the look-up, so the findings that fired are in
the key only where a row asks about one of them.) Two triages
that answer them alike get the same plan, whatever else differs (an age of 40 or 41, a
"yes" no row reads), and a row that starts reading a new fact adds its question to the
key the first time it asks it, so the key cannot go stale.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache
from typing import Any, Generic, TypeVar

from app.rules.model import (
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
    def of(
        cls,
        disposition: Disposition,
        preference: Preference,
        findings: tuple[Finding, ...],
        answers: Answers,
        startback_risk: RiskGroup | None = None,
    ) -> PlanFacts:
        age = answers.get("age")
        duration = answers.get("pain-duration")
        bmi = body_mass_index(answers)
        return cls(
            disposition=disposition,
            preference=preference,
            findings=tuple([f.code for f in findings]),
            yes=frozenset([link_id for link_id, value in answers.items() if value is True]),
            age=age if isinstance(age, int) and not isinstance(age, bool) else None,
            bmi=bmi,
            bmi_rounded=None if bmi is None else _rounded_bmi(answers["height-cm"], answers["weight-kg"]),
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

    def bmi_at_least(self, threshold: float) -> bool:
        """Rules 1: the unrounded binary-float BMI (no BMI counts as 0)."""
        return (self.bmi or 0.0) >= threshold

    def rounded_bmi_at_least(self, threshold: Decimal) -> bool:
        """Rules 2: the BMI rounded half-up to one decimal, when both were answered."""
        return self.bmi_rounded is not None and self.bmi_rounded >= threshold


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
    return _rounded_bmi(answers["height-cm"], answers["weight-kg"])


@lru_cache(maxsize=8192)  # decimal arithmetic is the dearest step of the facts; heights and weights repeat
def _rounded_bmi(height_cm: float, weight_kg: float) -> Decimal:
    metres = Decimal(repr(float(height_cm))) / 100
    exact = Decimal(repr(float(weight_kg))) / (metres * metres)
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
        planned.append(
            PlannedActivity(
                code=rule.code(facts) if rule.code else rule.row,
                status=ActivityStatus.ON_HOLD if hold_reason else ActivityStatus.NOT_STARTED,
                reasons=rule.reasons(facts),
                priority=rule.priority(facts),
                ask_clinician_first=rule.ask_clinician_first(facts),
                description=rule.text(facts),
                hold_reason=hold_reason,
            )
        )
    return tuple(planned)


# --- the plan cache: keyed by the questions the rows ask of the facts ---------------------

# A question asked of the facts: a field or property name with no arguments (None), or a
# method name with its arguments.
Question = tuple[str, "tuple[Any, ...] | None"]

_FIELDS = tuple(PlanFacts.__dataclass_fields__)
_PROPERTIES = tuple(
    name for name, value in vars(PlanFacts).items() if isinstance(value, property) and not name.startswith("_")
)
_METHODS = tuple(
    name
    for name, value in vars(PlanFacts).items()
    if callable(value) and not isinstance(value, (classmethod, staticmethod)) and not name.startswith("_")
)


class RecordingFacts:
    """The facts as a rule sees them while its result is being cached: every field, property
    and question method of PlanFacts, each read recorded in `asked` (in the order asked).
    Nothing else is in reach: an attribute PlanFacts does not have raises AttributeError."""

    __slots__ = ("_facts", "asked")

    def __init__(self, facts: PlanFacts) -> None:
        self._facts = facts
        self.asked: dict[Question, None] = {}  # an ordered set


def _recorded_attribute(name: str) -> property:
    question: Question = (name, None)
    read_from = vars(PlanFacts)[name].__get__  # the slot or property itself: no look-up per read

    def read(self: RecordingFacts) -> Any:
        self.asked[question] = None
        return read_from(self._facts, PlanFacts)

    return property(read)


def _recorded_method(name: str) -> Callable[..., Any]:
    method = vars(PlanFacts)[name]

    def ask(self: RecordingFacts, *args: Any) -> Any:
        self.asked[name, args] = None
        return method(self._facts, *args)

    ask.__name__ = name
    return ask


for _name in _FIELDS + _PROPERTIES:
    setattr(RecordingFacts, _name, _recorded_attribute(_name))
for _name in _METHODS:
    setattr(RecordingFacts, _name, _recorded_method(_name))


def compile_key(questions: tuple[Question, ...]) -> Callable[[PlanFacts], tuple[Any, ...]]:
    """One compiled function: the facts' answers to the questions, as a tuple."""
    constants: dict[str, Any] = {}
    terms = []
    for n, (name, args) in enumerate(questions):
        if args is None:
            terms.append(f"f.{name}")
        elif name in ("said_yes", "has") and len(args) == 1:  # the commonest: a set or tuple look-up
            constants[f"_q{n}"] = args[0]
            terms.append(f"(_q{n} in f.{'yes' if name == 'said_yes' else 'findings'})")
        else:
            constants[f"_q{n}"] = args
            terms.append(f"f.{name}(*_q{n})")
    return eval(f"lambda f: ({''.join(t + ', ' for t in terms)})", constants)


T = TypeVar("T")
_MISSING: Any = object()


class FactsCache(Generic[T]):
    """A function of the facts, cached by the answers to the questions it asks of them.

    Why this is sound: the function is deterministic and reads the facts only through
    `RecordingFacts`. A result is stored only under a key whose questions include every
    question asked while computing it. Facts that give the same answers to those questions
    make the function ask the same first question, get the same answer, ask the same next
    one, and so on: the same result. When a computation asks a question the key does not
    hold yet, the key grows by it and the cache starts afresh."""

    def __init__(self, compute: Callable[[Any], T], max_entries: int = 4096) -> None:
        self.compute = compute
        self.max_entries = max_entries
        # (questions, key function, results), replaced as one so concurrent readers see a
        # consistent triple; entries only ever go into the dict of the questions they fit.
        self._state: tuple[tuple[Question, ...], Callable[[PlanFacts], tuple[Any, ...]], dict[tuple, T]] = (
            (),
            compile_key(()),
            {},
        )

    @property
    def questions(self) -> tuple[Question, ...]:
        return self._state[0]

    def key(self, facts: PlanFacts) -> tuple[Any, ...]:
        return self._state[1](facts)

    def __call__(self, facts: PlanFacts) -> T:
        questions, key_of, results = self._state
        key = key_of(facts)
        result = results.get(key, _MISSING)
        if result is _MISSING:
            view = RecordingFacts(facts)
            result = self.compute(view)
            known = set(questions)
            new = tuple(q for q in view.asked if q not in known)
            if new:
                questions += new
                key_of, results = compile_key(questions), {}
                key = key_of(facts)
                self._state = (questions, key_of, results)
            elif len(results) >= self.max_entries:
                results.clear()  # memory stays bounded whatever the mix of inputs
            results[key] = result
        return result


def _plan_template(
    rows: tuple[ActivityRule, ...], facts: PlanFacts
) -> tuple[tuple[PlannedActivity, ...], tuple[int, ...]]:
    """`evaluate_rows`, except that a row whose reasons are `every_finding` gets them filled in
    afterwards (by `Planner.plan`): the cached plan then does not depend on which findings
    fired, only on the questions rows ask about them, and is shared far more widely."""
    planned: list[PlannedActivity] = []
    copies_findings: list[int] = []
    for rule in rows:
        if not rule.included_when(facts):
            continue
        hold_reason = rule.held_because(facts)
        if rule.reasons is every_finding:
            copies_findings.append(len(planned))
            reasons: tuple[str, ...] = ()
        else:
            reasons = rule.reasons(facts)
        fields = (
            rule.code(facts) if rule.code else rule.row,
            ActivityStatus.ON_HOLD if hold_reason else ActivityStatus.NOT_STARTED,
            reasons,
            rule.priority(facts),
            rule.ask_clinician_first(facts),
            rule.text(facts),
            hold_reason,
        )
        activity = _ACTIVITIES.get(fields)
        if activity is None:  # building a frozen dataclass costs more than finding an equal one
            if len(_ACTIVITIES) >= 8192:
                _ACTIVITIES.clear()
            activity = _ACTIVITIES[fields] = PlannedActivity(*fields)
        planned.append(activity)
    return tuple(planned), tuple(copies_findings)


# Planned activities are immutable and few distinct ones occur: one object for equal fields.
_ACTIVITIES: dict[tuple, PlannedActivity] = {}


@dataclass
class Planner:
    """A table with a bounded cache of its plans, keyed by the facts the rows read."""

    rows: tuple[ActivityRule, ...]
    max_plans: int = 4096
    _plans: FactsCache[tuple[tuple[PlannedActivity, ...], tuple[int, ...]]] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        rows = self.rows
        self._plans = FactsCache(lambda facts: _plan_template(rows, facts), self.max_plans)

    def key(self, facts: PlanFacts) -> tuple[Any, ...]:
        """The plan-cache key of these facts: their answers to the questions the rows asked."""
        return self._plans.key(facts)

    def plan(self, facts: PlanFacts) -> tuple[PlannedActivity, ...]:
        """The same plan as `evaluate_rows(self.rows, facts)`."""
        activities, copies_findings = self._plans(facts)
        if not copies_findings:
            return activities
        planned = list(activities)
        findings = facts.findings
        for i in copies_findings:
            a = planned[i]
            planned[i] = PlannedActivity(
                a.code, a.status, findings, a.priority, a.ask_clinician_first, a.description, a.hold_reason
            )
        return tuple(planned)
