"""The rule sets the service can apply, by version: tables beside one engine.

Rules 1 (triage-rules.md) stay servable so that every past decision can be re-run; rules 2
(rules-v2.md) are current. A QuestionnaireResponse naming Questionnaire `|1.0.0` is triaged
by rules 1, `|2.0.0` or no version by rules 2 (see app.fhir.questionnaire).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from app.rules.activities import ACTIVITY_RULES
from app.rules.activities_v2 import ACTIVITY_RULES_V2, medicine_decisions
from app.rules.conditions import compile_table
from app.rules.findings import FINDING_RULES, FindingRule
from app.rules.findings_v2 import FINDING_RULES_V2
from app.rules.model import Answers, MedicineDecision, Preference, StartBack
from app.rules.plan import ActivityRule, FactsCache, PlanFacts, Planner
from app.rules.preference import directional_preference, directional_preference_v2
from app.rules.stratification import startback


def _no_stratification(answers: Answers) -> StartBack | None:
    return None


def _no_medicine_decisions(facts: PlanFacts) -> tuple[MedicineDecision, ...]:
    return ()


@dataclass(frozen=True)
class RuleSet:
    version: str
    findings: tuple[FindingRule, ...]
    planner: Planner
    preference: Callable[[Answers], Preference]
    stratification: Callable[[Answers], StartBack | None] = _no_stratification
    medicine_decisions: Callable[[PlanFacts], tuple[MedicineDecision, ...]] = _no_medicine_decisions
    # The findings table's conditions compiled into one function: positions of the rows that fire.
    fired: Callable[[Answers], list[int]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "fired", compile_table(tuple(rule.fires_when for rule in self.findings)))

    @property
    def activities(self) -> tuple[ActivityRule, ...]:
        return self.planner.rows

    def finding(self, code: str) -> FindingRule:
        return next(rule for rule in self.findings if rule.code == code)


RULES_V1 = RuleSet("1.0.0", FINDING_RULES, Planner(ACTIVITY_RULES), directional_preference)
RULES_V2 = RuleSet(
    "2.0.0",
    FINDING_RULES_V2,
    Planner(ACTIVITY_RULES_V2),
    directional_preference_v2,
    # cached like the plan, by the facts the medicine tables read
    stratification=startback,
    medicine_decisions=FactsCache(medicine_decisions),
)

RULESETS: dict[str, RuleSet] = {rules.version: rules for rules in (RULES_V1, RULES_V2)}
CURRENT = RULES_V2
