"""The triage engine: answers in, TriageResult out. A pure function, no I/O.

The answers are already validated against the Questionnaire (see app.fhir.validation);
unanswered optional items take their documented defaults (no-change, false).
"""

from __future__ import annotations

from .activities import PlanContext, plan_activities
from .findings import FINDING_RULES
from .model import Answers, Disposition, Finding, TriageResult
from .preference import directional_preference

# The version of triage-rules.md these tables implement. Every CarePlan names it
# (instantiatesCanonical PlanDefinition|version) and every stored encounter keeps it.
RULES_VERSION = "1.0.0"


def find(answers: Answers) -> tuple[Finding, ...]:
    """Every finding that fires, in table order (which is most urgent tier first)."""
    return tuple(
        Finding(rule.code, rule.tier, rule.fires_when.evidence(answers))  # type: ignore[arg-type]
        for rule in FINDING_RULES
        if rule.holds(answers)
    )


def decide(findings: tuple[Finding, ...]) -> Disposition:
    """The disposition is the most urgent tier among the findings."""
    return max((f.tier.disposition for f in findings), default=Disposition.SELF_CARE)


def triage(answers: Answers) -> TriageResult:
    findings = find(answers)
    disposition = decide(findings)
    preference = directional_preference(answers)
    activities = plan_activities(PlanContext(disposition, findings, preference, answers))
    return TriageResult(RULES_VERSION, disposition, findings, preference, activities)
