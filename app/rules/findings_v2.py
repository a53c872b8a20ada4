"""The findings table of rules-v2.md (rules version 2), row for row.

Put this file beside the table and tick each row: code, tier, when it fires, source.
Sources: § = a section of the patient guide; GIRFT = the national suspected cauda equina
pathway; NG59, NG234, NG12, NG65 = NICE guidelines; Downie = BMJ 2013 red flags; CKS = NICE
Clinical Knowledge Summaries.

Every emergency (E) and urgent (U) row carries its sign in the patient's own words: the
safety net of every plan is generated from these, so a sign cannot be added here and
forgotten there.
"""

from __future__ import annotations

from app.rules.conditions import AllOf, AnyOf, AtLeast, Below, CountAtLeast, No, NotYes, OneOf, Yes
from app.rules.findings import FindingRule
from app.rules.model import Tier

E, U, S, D = Tier.E, Tier.U, Tier.S, Tier.D

INFLAMMATORY_ITEMS = (
    "ibp-onset-before-35",
    "ibp-wakes-second-half-night",
    "ibp-buttock-pain",
    "ibp-better-with-movement",
    "ibp-better-with-nsaid",
    "ibp-family-history",
    "ibp-arthritis",
    "ibp-enthesitis",
    "ibp-psoriasis",
)
_NEURO_WITH_CANCER = AnyOf(
    Yes("leg-weakness"),
    Yes("leg-numbness"),
    Yes("saddle-numbness"),
    Yes("bladder-bowel-control"),
    Yes("urination-difficulty"),
)

FINDING_RULES_V2: tuple[FindingRule, ...] = (
    # --- E: call 911 or go to the emergency department now
    FindingRule(
        "ces-bladder-bowel",
        E,
        AllOf(Yes("bladder-bowel-control"), Yes("bladder-bowel-new")),
        "GIRFT; § When to contact us",
        "You lose control of your bladder or bowels.",
    ),
    FindingRule(
        "ces-urinary",
        E,
        AllOf(Yes("urination-difficulty"), Yes("urination-new")),
        "GIRFT (rules 1 had this only with leg signs)",
        "You have new trouble starting or stopping when you pee.",
    ),
    FindingRule(
        "ces-saddle-numbness",
        E,
        Yes("saddle-numbness"),
        "GIRFT; § When to contact us",
        "The skin between your legs or around your bottom feels numb.",
    ),
    FindingRule(
        "ces-sexual",
        E,
        Yes("sexual-dysfunction"),
        "GIRFT",
        "You lose feeling in your private parts, or cannot have sex like before.",
    ),
    FindingRule(
        "ces-bilateral-neuro",
        E,
        AnyOf(
            Yes("leg-weakness-both"), AllOf(Yes("leg-symptoms-both"), AnyOf(Yes("leg-weakness"), Yes("leg-numbness")))
        ),
        "GIRFT (bilateral deficit)",
        "Both legs feel weak or numb.",
    ),
    FindingRule(
        "progressive-weakness",
        E,
        Yes("leg-weakness-progressing"),
        "GIRFT; § When to contact us",
        "Weakness in a leg gets worse over hours or days.",
    ),
    FindingRule(
        "cancer-neuro",
        E,
        AllOf(Yes("cancer-history"), _NEURO_WITH_CANCER),
        "NG234",
        "You have had cancer, and a leg gets weak or numb, or your bladder or bowels change.",
    ),
    FindingRule(
        "possible-sepsis",
        E,
        AllOf(Yes("fever"), Yes("very-unwell")),
        "sepsis pathways; spinal infection",
        "You have a fever and feel very unwell, with shaking chills.",
    ),
    FindingRule(
        "major-trauma",
        E,
        Yes("injury-major"),
        "Downie (significant trauma); major trauma pathways",
        "You hurt your back in a major accident, such as a car crash or a fall from a height.",
    ),
    # --- U: call the Appointment and Advice line now
    FindingRule(
        "sphincter-long-standing",
        U,
        AnyOf(
            AllOf(Yes("bladder-bowel-control"), No("bladder-bowel-new")),
            AllOf(Yes("urination-difficulty"), No("urination-new")),
        ),
        "GIRFT: establish the same day whether it is new",
        "You have had trouble with your bladder, bowels or peeing for more than 2 weeks.",
    ),
    FindingRule(
        "bilateral-leg-symptoms",
        U,
        Yes("leg-symptoms-both"),
        "GIRFT",
        "You get pain, tingling or numbness in both legs.",
    ),
    FindingRule("leg-weakness", U, Yes("leg-weakness"), "§ When to contact us", "A leg feels weak."),
    FindingRule("sensation-loss", U, Yes("leg-numbness"), "§ When to contact us", "You lose feeling in a leg or foot."),
    FindingRule(
        "infection-risk",
        U,
        AllOf(
            AnyOf(Yes("fever"), Yes("recent-infection"), Yes("iv-drug-use"), Yes("spinal-procedure-recent")),
            Yes("pain-new-or-worse"),
        ),
        "§ When to contact us; CKS infection flags",
        "Your back pain is new or worse and you have a fever or an infection. The same goes if "
        "you had a back operation or a back shot in the last 3 months, or you inject drugs.",
    ),
    FindingRule(
        "malignancy-immune-risk",
        U,
        AllOf(Yes("pain-new-or-worse"), AnyOf(Yes("cancer-history"), Yes("immune-problem"), Yes("steroid-long-term"))),
        "§ When to contact us",
        "Your back pain is new or worse and you have had cancer, have a weak immune system, or take steroid pills.",
    ),
    FindingRule(
        "unbearable-pain",
        U,
        Yes("pain-unbearable"),
        '§ When to contact us ("intolerable")',
        "The pain is more than you can bear, even with painkillers.",
    ),
    FindingRule(
        "fracture-risk",
        U,
        AllOf(Yes("injury"), AnyOf(AtLeast("age", 70), Yes("steroid-long-term"), Yes("osteoporosis"))),
        "Downie; § Causes",
        "You fall or hurt your back and you are 70 or older, take steroid pills, or have thin bones.",
    ),
    FindingRule(
        "abdominal-pain-older",
        U,
        AllOf(Yes("abdominal-pain"), AtLeast("age", 50)),
        "aortic aneurysm and visceral causes; § Blood tests (organs)",
        "You are 50 or older and get pain in your belly as well as your back.",
    ),
    # --- S: see a doctor within a few days
    FindingRule("cancer-history", S, Yes("cancer-history"), "Downie (the informative malignancy flag)"),
    FindingRule("weight-loss-over-60", S, AllOf(Yes("weight-loss"), AtLeast("age", 60)), "NG12"),
    FindingRule("systemic-symptoms", S, AnyOf(Yes("fever"), Yes("nausea-vomiting")), "§ screening questions"),
    FindingRule("rest-pain", S, Yes("pain-at-rest"), '§ When to contact us ("not relieved by rest")'),
    # --- D: a routine appointment before the home program
    FindingRule("leg-symptoms", D, AnyOf(Yes("severe-leg-pain"), Yes("leg-tingling")), "§ screening questions"),
    FindingRule("weight-loss", D, Yes("weight-loss"), "§ screening questions"),
    FindingRule("immune-or-steroid", D, AnyOf(Yes("immune-problem"), Yes("steroid-long-term")), "§ When to contact us"),
    FindingRule("injury", D, Yes("injury"), "§ Causes"),
    FindingRule("persistent-pain", D, OneOf("pain-duration", "6-12w", "gt-12w"), "§ Overview (6 weeks)"),
    FindingRule("otc-not-helping", D, Yes("otc-meds-not-helping"), "§ Home Treatments"),
    FindingRule("under-18", D, Below("age", 18), "NG59 covers 16+; the program is for adults"),
    FindingRule("pregnancy", D, Yes("pregnant"), "pregnancy-related back pain needs its own assessment"),
    FindingRule(
        "older-first-episode", D, AllOf(AtLeast("age", 50), NotYes("previous-episodes")), "CKS (new pain in later life)"
    ),
    FindingRule("thoracic-pain", D, Yes("thoracic-pain"), "CKS red flags"),
    FindingRule("abdominal-pain", D, Yes("abdominal-pain"), "§ Blood tests (stomach, kidney …)"),
    FindingRule("inflammatory-back-pain", D, AllOf(Below("age", 45), CountAtLeast(4, *INFLAMMATORY_ITEMS)), "NG65"),
)

FINDING_RULES_V2_BY_CODE = {rule.code: rule for rule in FINDING_RULES_V2}
