"""The activities table of triage-rules.md (version 1): which plan items a patient gets.

Each row says when the activity is in the plan, whether it waits for a doctor's
clearance ("on-hold unless self-care"), its priority if it is a referral, and which
findings are the reason for it. An emergency plan holds only `referral-emergency`
and `safety-net`: every other row requires a non-emergency disposition.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from .model import (
    ActivityStatus,
    Answers,
    Disposition,
    Finding,
    PlannedActivity,
    Preference,
    Priority,
)
from .preference import DIRECTIONAL_EXERCISE

BMI_OVERWEIGHT = 25.0  # kg/m², WHO threshold for overweight (§ Weight loss)


@dataclass(frozen=True, slots=True)
class PlanContext:
    """What the activity rows look at: the outcome of the findings, and the answers."""

    disposition: Disposition
    findings: tuple[Finding, ...]
    preference: Preference
    answers: Answers

    @property
    def emergency(self) -> bool:
        return self.disposition is Disposition.EMERGENCY

    def yes(self, link_id: str) -> bool:
        return self.answers.get(link_id) is True

    def has_finding(self, code: str) -> bool:
        return any(f.code == code for f in self.findings)

    @property
    def overweight(self) -> bool:
        return (self.bmi or 0.0) >= BMI_OVERWEIGHT

    @property
    def nsaid_unsuitable(self) -> bool:
        # § Home Treatments: pregnancy or a condition/medicine that may not mix with NSAIDs
        return self.yes("pregnant") or self.yes("nsaid-caution")

    @property
    def bmi(self) -> float | None:
        height, weight = self.answers.get("height-cm"), self.answers.get("weight-kg")
        if not height or not weight or isinstance(height, (bool, str)) or isinstance(weight, (bool, str)):
            return None
        return float(weight) / (float(height) / 100.0) ** 2


Reasons = Callable[[PlanContext], tuple[str, ...]]


def _all_findings(ctx: PlanContext) -> tuple[str, ...]:
    # The disposition's own activity carries every finding, most urgent first, so
    # that no red flag is lost on the way to the CarePlan, whatever the tier.
    return tuple(f.code for f in ctx.findings)


def _no_reasons(ctx: PlanContext) -> tuple[str, ...]:
    return ()


def _reasons(*codes: str) -> Reasons:
    return lambda ctx: tuple(c for c in codes if ctx.has_finding(c))


@dataclass(frozen=True, slots=True)
class ActivityRule:
    code: str
    included_when: Callable[[PlanContext], bool]
    on_hold_unless_self_care: bool = False
    priority: Priority | None = None
    reasons: Reasons = _no_reasons


def _not_emergency(ctx: PlanContext) -> bool:
    return not ctx.emergency


ACTIVITY_RULES: tuple[ActivityRule, ...] = (
    ActivityRule("referral-emergency", lambda c: c.emergency,
                 priority=Priority.STAT, reasons=_all_findings),
    ActivityRule("call-advice-line", lambda c: c.disposition is Disposition.URGENT,
                 priority=Priority.URGENT, reasons=_all_findings),
    ActivityRule("doctor-visit", lambda c: c.disposition is Disposition.DOCTOR,
                 priority=Priority.ROUTINE, reasons=_all_findings),
    ActivityRule("referral-physical-therapy",
                 lambda c: not c.emergency and c.has_finding("persistent-pain"),
                 priority=Priority.ROUTINE, reasons=_reasons("persistent-pain")),
    ActivityRule("relative-rest", _not_emergency),
    ActivityRule("analgesia-nsaid", lambda c: not c.emergency and not c.nsaid_unsuitable,
                 reasons=_reasons("otc-not-helping")),
    ActivityRule("analgesia-acetaminophen", _not_emergency,
                 reasons=_reasons("otc-not-helping")),
    ActivityRule("ice-heat", _not_emergency),
    ActivityRule("aerobic-exercise", _not_emergency, on_hold_unless_self_care=True),
    # "directional-exercise" stands for the -extension / -flexion / -neutral row,
    # chosen by the directional preference in `plan_activities`.
    ActivityRule("directional-exercise", _not_emergency, on_hold_unless_self_care=True),
    ActivityRule("core-stabilization", _not_emergency, on_hold_unless_self_care=True),
    ActivityRule("pool-exercise", lambda c: not c.emergency and c.yes("land-exercise-painful"),
                 on_hold_unless_self_care=True),
    ActivityRule("resume-home-program", lambda c: not c.emergency and c.yes("previous-pt"),
                 on_hold_unless_self_care=True),
    ActivityRule("lifting-posture", _not_emergency),
    ActivityRule("sleep-support", lambda c: not c.emergency and c.yes("sleep-problems")),
    ActivityRule("weight-management",
                 lambda c: not c.emergency and c.overweight),
    ActivityRule("safety-net", lambda c: True),
)


# What an activity row may look at besides the disposition and the preference. The plan
# is a function of these alone (the disposition's own activity also lists every finding,
# added after), so equal inputs share one plan, computed once.
PLAN_FINDINGS = ("persistent-pain", "otc-not-helping")
PLAN_ANSWERS = ("pregnant", "nsaid-caution", "land-exercise-painful", "previous-pt", "sleep-problems")
_MAX_PLANS = 4096
_plans: dict[tuple, tuple[PlannedActivity, ...]] = {}


def plan_activities(ctx: PlanContext) -> tuple[PlannedActivity, ...]:
    key = (
        ctx.disposition,
        ctx.preference,
        ctx.overweight,
        *(ctx.has_finding(code) for code in PLAN_FINDINGS),
        *(ctx.yes(link_id) for link_id in PLAN_ANSWERS),
    )
    plan = _plans.get(key)
    if plan is None:
        if len(_plans) >= _MAX_PLANS:
            _plans.clear()  # memory stays bounded whatever the mix of inputs
        plan = _plans[key] = evaluate_rows(ctx, with_all_findings=False)
    if not ctx.findings:
        return plan
    every_finding = _all_findings(ctx)
    return tuple(
        PlannedActivity(a.code, a.status, every_finding, a.priority, a.ask_clinician_first)
        if a.code in _LISTS_EVERY_FINDING else a
        for a in plan
    )


def evaluate_rows(ctx: PlanContext, with_all_findings: bool = True) -> tuple[PlannedActivity, ...]:
    """Walk the table: every row whose condition holds becomes a planned activity."""
    hold = ctx.disposition is not Disposition.SELF_CARE
    planned = []
    for rule in ACTIVITY_RULES:
        if not rule.included_when(ctx):
            continue
        code = rule.code
        reasons = () if rule.reasons is _all_findings and not with_all_findings else rule.reasons(ctx)
        if code == "directional-exercise":
            code = DIRECTIONAL_EXERCISE[ctx.preference]
            reasons = (ctx.preference.value,)
        status = (
            ActivityStatus.ON_HOLD
            if rule.on_hold_unless_self_care and hold
            else ActivityStatus.NOT_STARTED
        )
        ask_first = code == "analgesia-acetaminophen" and ctx.nsaid_unsuitable
        planned.append(PlannedActivity(code, status, reasons, rule.priority, ask_first))
    return tuple(planned)


_LISTS_EVERY_FINDING = frozenset(r.code for r in ACTIVITY_RULES if r.reasons is _all_findings)
