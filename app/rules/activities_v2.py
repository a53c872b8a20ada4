"""The activities table of rules-v2.md (rules version 2), row for row.

Order: the disposition's own activity first, then the safety net, then the rest. Each row
holds its own rule (when, on hold or not, priority, reasons, patient text); the medicine
safety tables below are read by the medicine rows and by the clinician narrative alike.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

from app.rules.concepts_v2 import (
    ASK_FIRST_REASON,
    DIRECTION_IS_A_SUGGESTION,
    ON_HOLD_REASON,
    SAFETY_NET_SIGNS,
    STOP_RULE,
)
from app.rules.concepts_v2 import PATIENT_TEXT_V2 as TEXT
from app.rules.model import Disposition, MedicineDecision, Priority, RiskGroup
from app.rules.plan import ActivityRule, FactTest, PlanFacts, every_finding, findings_among
from app.rules.preference import DIRECTIONAL_EXERCISE

BMI_OVERWEIGHT = Decimal("25.0")  # kg/m², WHO; compared after rounding to one decimal


# --- medicine safety (§ Home Treatments, NG59) ------------------------------------------
# Any of these: no NSAID in the plan at all (the narrative says why).
NSAID_EXCLUDED_BY: tuple[tuple[str, FactTest], ...] = (
    ("under 16", lambda f: f.age_below(16)),
    ("pregnancy", lambda f: f.said_yes("pregnant")),
    ("a condition or medicine that may not mix with NSAIDs", lambda f: f.said_yes("nsaid-caution")),
    ("over-the-counter anti-inflammatories have not helped", lambda f: f.has("otc-not-helping")),
)
# Otherwise any of these: the NSAID is in the plan but on hold, "ask a pharmacist or doctor first".
NSAID_ASK_FIRST_FOR: tuple[tuple[str, FactTest], ...] = (
    ("age 65 or over", lambda f: f.age_at_least(65)),
    ("long-term steroids", lambda f: f.said_yes("steroid-long-term")),
)
ACETAMINOPHEN_MIN_AGE = 16
# Acetaminophen: ask first, and the reason shown is the first that applies (never both).
ACETAMINOPHEN_ASK_FIRST_FOR: tuple[tuple[str, FactTest], ...] = (
    ("pregnancy", lambda f: f.said_yes("pregnant")),
    ("caution", lambda f: f.said_yes("nsaid-caution")),
)


def _applying(table: tuple[tuple[str, FactTest], ...], f: PlanFacts) -> tuple[str, ...]:
    return tuple(reason for reason, test in table if test(f))


def nsaid_excluded(f: PlanFacts) -> tuple[str, ...]:
    return _applying(NSAID_EXCLUDED_BY, f)


def nsaid_ask_first(f: PlanFacts) -> tuple[str, ...]:
    return _applying(NSAID_ASK_FIRST_FOR, f)


def nsaid_active(f: PlanFacts) -> bool:
    return not f.emergency and not nsaid_excluded(f) and not nsaid_ask_first(f)


def acetaminophen_ask_first(f: PlanFacts) -> str | None:
    reasons = _applying(ACETAMINOPHEN_ASK_FIRST_FOR, f)
    return reasons[0] if reasons else None


def medicine_decisions(f: PlanFacts) -> tuple[MedicineDecision, ...]:
    """The medicine rows' decisions with their reasons, in words for the clinician."""
    if f.emergency:
        return (
            MedicineDecision("NSAID", "not planned", ("emergency referral",)),
            MedicineDecision("acetaminophen", "not planned", ("emergency referral",)),
        )
    excluded, ask_first = nsaid_excluded(f), nsaid_ask_first(f)
    if excluded:
        nsaid = MedicineDecision("NSAID", "withheld", excluded)
    elif ask_first:
        nsaid = MedicineDecision("NSAID", "on hold (ask a pharmacist or doctor first)", ask_first)
    else:
        nsaid = MedicineDecision("NSAID", "offered")
    if nsaid_active(f):
        acetaminophen = MedicineDecision("acetaminophen", "not planned", ("an NSAID is offered",))
    elif f.age_below(ACETAMINOPHEN_MIN_AGE):
        acetaminophen = MedicineDecision("acetaminophen", "withheld", ("under 16: the doctor advises",))
    elif (reason := acetaminophen_ask_first(f)) is not None:
        words = "pregnancy" if reason == "pregnancy" else "a condition or medicine that may not mix with NSAIDs"
        acetaminophen = MedicineDecision("acetaminophen", "offered, ask a doctor or pharmacist first", (words,))
    else:
        acetaminophen = MedicineDecision("acetaminophen", "offered", ("the NSAID is not offered",))
    return nsaid, acetaminophen


# --- the rows' small rules ---------------------------------------------------------------


def _not_emergency(f: PlanFacts) -> bool:
    return not f.emergency


def _below_urgent(f: PlanFacts) -> bool:
    return f.disposition < Disposition.URGENT


def _held_unless_self_care(f: PlanFacts) -> str | None:
    return None if f.self_care else ON_HOLD_REASON


def _exercise_held(f: PlanFacts) -> str | None:
    # Pregnancy and under-18 always fire a doctor-tier finding, so this is the same as
    # "unless self-care"; it is spelled out because rules-v2.md asks it of those plans.
    if not f.self_care or f.said_yes("pregnant") or f.age_below(18):
        return ON_HOLD_REASON
    return None


def _text(key: str) -> Callable[[PlanFacts], str]:
    return lambda f: TEXT[key]


def _priority(priority: Priority) -> Callable[[PlanFacts], Priority | None]:
    return lambda f: priority


def _doctor_visit_text(f: PlanFacts) -> str:
    parts = [TEXT["doctor-visit-soon" if f.disposition is Disposition.DOCTOR_SOON else "doctor-visit-routine"]]
    if f.has("otc-not-helping"):
        parts.append(TEXT["doctor-visit-other-pain-relief"])
    if f.age_below(ACETAMINOPHEN_MIN_AGE):
        parts.append(TEXT["doctor-visit-under-16"])
    return " ".join(parts)


def _safety_net_text(f: PlanFacts) -> str:
    if f.pain_duration == "lt-6w":
        return f"{SAFETY_NET_SIGNS} {TEXT['safety-net-6-weeks']}"
    return SAFETY_NET_SIGNS


def _stratified_physical_therapy(f: PlanFacts) -> bool:
    if f.startback_risk is None:  # without STarT Back, as in rules 1
        return not f.emergency and f.has("persistent-pain")
    return _below_urgent(f) and f.startback_risk is RiskGroup.MEDIUM


def _physical_therapy_reasons(f: PlanFacts) -> tuple[str, ...]:
    if f.startback_risk is None:
        return findings_among("persistent-pain")(f)
    return ("startback-medium-risk",)


def _nsaid_held(f: PlanFacts) -> str | None:
    return ASK_FIRST_REASON if nsaid_ask_first(f) else None


def _nsaid_text(f: PlanFacts) -> str:
    return TEXT["analgesia-nsaid-ask-first" if nsaid_ask_first(f) else "analgesia-nsaid"]


def _acetaminophen_text(f: PlanFacts) -> str:
    reason = acetaminophen_ask_first(f)
    first = TEXT["analgesia-acetaminophen" if reason is None else f"analgesia-acetaminophen-{reason}"]
    return f"{first} {TEXT['acetaminophen-safety']}"


def _directional_code(f: PlanFacts) -> str:
    return DIRECTIONAL_EXERCISE[f.preference]


def _directional_text(f: PlanFacts) -> str:
    return f"{TEXT[_directional_code(f)]} {DIRECTION_IS_A_SUGGESTION} {STOP_RULE}"


def _exercise_text(key: str) -> Callable[[PlanFacts], str]:
    return lambda f: f"{TEXT[key]} {STOP_RULE}"


def _overweight_adult_not_pregnant(f: PlanFacts) -> bool:
    return (
        not f.emergency and not f.said_yes("pregnant") and f.age_at_least(18) and f.rounded_bmi_at_least(BMI_OVERWEIGHT)
    )


ACTIVITY_RULES_V2: tuple[ActivityRule, ...] = (
    # The disposition's own activity (exactly one of these three, or none for self-care)
    ActivityRule(
        "referral-emergency",
        lambda f: f.emergency,
        _text("referral-emergency"),
        priority=_priority(Priority.STAT),
        reasons=every_finding,
    ),
    ActivityRule(
        "call-advice-line",
        lambda f: f.disposition is Disposition.URGENT,
        _text("call-advice-line"),
        priority=_priority(Priority.URGENT),
        reasons=every_finding,
    ),
    ActivityRule(
        "doctor-visit",
        lambda f: f.disposition in (Disposition.DOCTOR_SOON, Disposition.DOCTOR),
        _doctor_visit_text,
        priority=lambda f: Priority.URGENT if f.disposition is Disposition.DOCTOR_SOON else Priority.ROUTINE,
        reasons=every_finding,
    ),
    # Then the safety net, generated from the findings table
    ActivityRule("safety-net", lambda f: True, _safety_net_text),
    # Then the rest
    ActivityRule(
        "referral-physical-therapy",
        _stratified_physical_therapy,
        _text("referral-physical-therapy"),
        held_because=_held_unless_self_care,
        priority=_priority(Priority.ROUTINE),
        reasons=_physical_therapy_reasons,
    ),
    ActivityRule(
        "referral-psychologically-informed-pt",
        lambda f: _below_urgent(f) and f.startback_risk is RiskGroup.HIGH,
        _text("referral-psychologically-informed-pt"),
        held_because=_held_unless_self_care,
        priority=_priority(Priority.ROUTINE),
        reasons=lambda f: ("startback-high-risk",),
    ),
    ActivityRule("education-back-pain", _not_emergency, _text("education-back-pain")),
    ActivityRule("relative-rest", _not_emergency, _text("relative-rest")),
    ActivityRule(
        "analgesia-nsaid", lambda f: not f.emergency and not nsaid_excluded(f), _nsaid_text, held_because=_nsaid_held
    ),
    ActivityRule(
        "analgesia-acetaminophen",
        lambda f: not f.emergency and not nsaid_active(f) and f.age_at_least(ACETAMINOPHEN_MIN_AGE),
        _acetaminophen_text,
        reasons=findings_among("otc-not-helping"),
        ask_clinician_first=lambda f: acetaminophen_ask_first(f) is not None,
    ),
    ActivityRule("ice-heat", _not_emergency, _text("ice-heat")),
    ActivityRule("aerobic-exercise", _not_emergency, _exercise_text("aerobic-exercise"), held_because=_exercise_held),
    # The -extension / -flexion / -neutral row, chosen by the directional preference.
    ActivityRule(
        "directional-exercise",
        _not_emergency,
        _directional_text,
        held_because=_exercise_held,
        code=_directional_code,
        reasons=lambda f: (f.preference.value,),
    ),
    ActivityRule(
        "core-stabilization", _not_emergency, _exercise_text("core-stabilization"), held_because=_exercise_held
    ),
    ActivityRule(
        "pool-exercise",
        lambda f: not f.emergency and f.said_yes("land-exercise-painful"),
        _exercise_text("pool-exercise"),
        held_because=_exercise_held,
    ),
    ActivityRule(
        "resume-home-program",
        lambda f: not f.emergency and f.said_yes("previous-pt"),
        _exercise_text("resume-home-program"),
        held_because=_exercise_held,
    ),
    ActivityRule("lifting-posture", _not_emergency, _text("lifting-posture")),
    ActivityRule("sleep-support", lambda f: not f.emergency and f.said_yes("sleep-problems"), _text("sleep-support")),
    ActivityRule("weight-management", _overweight_adult_not_pregnant, _text("weight-management")),
)
