"""The findings table of triage-rules.md (rules version 1), row for row.

Put this file beside the table and tick each row: code, tier, when it fires, source.
§ refers to sections of the patient guide the rules are built from; "CES pathway"
to the cauda equina pathways (NICE CKS, GIRFT) that set the emergency tier.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from app.rules.conditions import AllOf, AnyOf, AtLeast, Below, Condition, OneOf, Yes, compile_predicate
from app.rules.model import Tier


@dataclass(frozen=True, slots=True)
class FindingRule:
    code: str
    tier: Tier
    fires_when: Condition
    source: str
    # Rules 2: the sign in the patient's words, for the safety net (every E and U row has one).
    sign: str | None = None
    holds: Callable = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "holds", compile_predicate(self.fires_when))


E, U, D = Tier.E, Tier.U, Tier.D

FINDING_RULES: tuple[FindingRule, ...] = (
    # --- Emergency: suspected cauda equina syndrome or progressive neurological loss
    FindingRule("ces-bladder-bowel", E, Yes("bladder-bowel-control"), "§ When to contact us; CES pathway"),
    FindingRule("ces-saddle-numbness", E, Yes("saddle-numbness"), "§ When to contact us; CES pathway"),
    FindingRule(
        "ces-urinary-neuro",
        E,
        AllOf(Yes("urination-difficulty"), AnyOf(Yes("leg-weakness"), Yes("leg-numbness"))),
        "CES pathway",
    ),
    FindingRule("progressive-weakness", E, Yes("leg-weakness-worsening"), "CES pathway"),
    # --- Urgent: call the Appointment and Advice line today
    FindingRule("urinary-difficulty", U, Yes("urination-difficulty"), "§ When to contact us"),
    FindingRule("leg-weakness", U, Yes("leg-weakness"), "§ When to contact us"),
    FindingRule("sensation-loss", U, Yes("leg-numbness"), '§ When to contact us ("loss of sensation")'),
    FindingRule(
        "infection-risk",
        U,
        AllOf(Yes("pain-new-or-worse"), AnyOf(Yes("fever"), Yes("recent-infection"))),
        "§ When to contact us",
    ),
    FindingRule(
        "malignancy-immune-risk",
        U,
        AllOf(Yes("pain-new-or-worse"), AnyOf(Yes("cancer-history"), Yes("immune-problem"), Yes("steroid-use"))),
        "§ When to contact us",
    ),
    FindingRule("intolerable-pain", U, Yes("pain-intolerable"), "§ When to contact us"),
    FindingRule(
        "fracture-risk",
        U,
        AllOf(Yes("injury"), AnyOf(AtLeast("age", 70), Yes("steroid-use"))),
        "§ Causes (injury, fracture); Downie 2013",
    ),
    # --- Doctor: see a doctor before starting the home program
    FindingRule("leg-symptoms", D, AnyOf(Yes("severe-leg-pain"), Yes("leg-tingling")), "§ screening questions"),
    FindingRule("systemic-symptoms", D, AnyOf(Yes("fever"), Yes("nausea-vomiting")), "§ screening questions"),
    FindingRule("cancer-or-weight-loss", D, AnyOf(Yes("cancer-history"), Yes("weight-loss")), "§ screening questions"),
    FindingRule(
        "immune-or-steroid",
        D,
        AnyOf(Yes("immune-problem"), Yes("steroid-use")),
        "§ When to contact us (as a risk factor)",
    ),
    FindingRule("injury", D, Yes("injury"), "§ Causes"),
    FindingRule(
        "persistent-pain",
        D,
        OneOf("pain-duration", "6-12w", "gt-12w"),
        '§ Overview ("most people get better within 6 weeks")',
    ),
    FindingRule("otc-not-helping", D, Yes("otc-meds-not-helping"), "§ Home Treatments (NSAIDs that do not relieve)"),
    FindingRule("under-18", D, Below("age", 18), "the program is for adults"),
)

FINDING_RULES_BY_CODE = {rule.code: rule for rule in FINDING_RULES}
