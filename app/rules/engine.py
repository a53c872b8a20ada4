"""The triage engine: answers in, TriageResult out. A pure function, no I/O.

One engine for every rules version: the version's tables (app.rules.rulesets) say what
fires and what is planned. The answers are already validated against the Questionnaire
of the same version (see app.triage.validation); unanswered optional items take their
documented defaults (no-change, false).
"""

from __future__ import annotations

from app.rules.model import Answers, Disposition, Finding, TriageResult
from app.rules.plan import PlanFacts
from app.rules.rulesets import CURRENT, RULESETS, RuleSet

# The current rules version. Every CarePlan names the version that made it
# (instantiatesCanonical PlanDefinition|version) and every stored encounter keeps it.
RULES_VERSION = CURRENT.version


def find(answers: Answers, rules: RuleSet = CURRENT) -> tuple[Finding, ...]:
    """Every finding that fires, in table order (which is most urgent tier first). The whole
    table is tested by one compiled function; evidence is collected only for the rows that fire."""
    table = rules.findings
    return tuple(
        # fired() picked the rows whose condition holds, so their evidence is never None (the
        # hot path does not pay for a check the types would want)
        Finding(rule.code, rule.tier, rule.fires_when.evidence(answers))  # type: ignore[arg-type]
        for rule in map(table.__getitem__, rules.fired(answers))
    )


def decide(findings: tuple[Finding, ...]) -> Disposition:
    """The disposition is the most urgent tier among the findings."""
    return max((f.tier.disposition for f in findings), default=Disposition.SELF_CARE)


def triage(answers: Answers, rules: RuleSet | str = CURRENT) -> TriageResult:
    if isinstance(rules, str):
        rules = RULESETS[rules]
    findings = find(answers, rules)
    disposition = decide(findings)
    preference = rules.preference(answers)
    scores = rules.stratification(answers)
    facts = PlanFacts.of(disposition, preference, findings, answers, scores.risk if scores else None)
    activities = rules.planner.plan(facts)
    bmi = facts.bmi_rounded
    return TriageResult(
        rules.version,
        disposition,
        findings,
        preference,
        activities,
        startback=scores,
        bmi=float(bmi) if bmi is not None else None,
        medicines=rules.medicine_decisions(facts),
    )
