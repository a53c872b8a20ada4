"""The activities table of triage-rules.md (rules version 1): which plan items a patient gets.

Each row says when the activity is in the plan, whether it waits for a doctor's
clearance ("on-hold unless self-care"), its priority if it is a referral, and which
findings are the reason for it. An emergency plan holds only `referral-emergency`
and `safety-net`: every other row requires a non-emergency disposition.
"""

from __future__ import annotations

from collections.abc import Callable

from app.rules.concepts import ACETAMINOPHEN_WITH_CAUTION, DIRECTIONAL_CAUTION, ON_HOLD_REASON, PATIENT_TEXT
from app.rules.model import Disposition, Priority
from app.rules.plan import ActivityRule, PlanFacts, every_finding, findings_among
from app.rules.preference import DIRECTIONAL_EXERCISE

BMI_OVERWEIGHT = 25.0  # kg/m², WHO threshold for overweight (§ Weight loss); rules 1 compare unrounded


def _not_emergency(f: PlanFacts) -> bool:
    return not f.emergency


def _nsaid_unsuitable(f: PlanFacts) -> bool:
    # § Home Treatments: pregnancy or a condition/medicine that may not mix with NSAIDs
    return f.said_yes("pregnant") or f.said_yes("nsaid-caution")


def _held_unless_self_care(f: PlanFacts) -> str | None:
    return None if f.self_care else ON_HOLD_REASON


def _text(code: str) -> Callable[[PlanFacts], str]:
    return lambda f: PATIENT_TEXT[code]


def _priority(priority: Priority) -> Callable[[PlanFacts], Priority | None]:
    return lambda f: priority


def _directional_code(f: PlanFacts) -> str:
    return DIRECTIONAL_EXERCISE[f.preference]


def _directional_text(f: PlanFacts) -> str:
    return f"{PATIENT_TEXT[_directional_code(f)]} {DIRECTIONAL_CAUTION}"


def _acetaminophen_text(f: PlanFacts) -> str:
    return ACETAMINOPHEN_WITH_CAUTION if _nsaid_unsuitable(f) else PATIENT_TEXT["analgesia-acetaminophen"]


ACTIVITY_RULES: tuple[ActivityRule, ...] = (
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
        lambda f: f.disposition is Disposition.DOCTOR,
        _text("doctor-visit"),
        priority=_priority(Priority.ROUTINE),
        reasons=every_finding,
    ),
    ActivityRule(
        "referral-physical-therapy",
        lambda f: not f.emergency and f.has("persistent-pain"),
        _text("referral-physical-therapy"),
        priority=_priority(Priority.ROUTINE),
        reasons=findings_among("persistent-pain"),
    ),
    ActivityRule("relative-rest", _not_emergency, _text("relative-rest")),
    ActivityRule(
        "analgesia-nsaid",
        lambda f: not f.emergency and not _nsaid_unsuitable(f),
        _text("analgesia-nsaid"),
        reasons=findings_among("otc-not-helping"),
    ),
    ActivityRule(
        "analgesia-acetaminophen",
        _not_emergency,
        _acetaminophen_text,
        reasons=findings_among("otc-not-helping"),
        ask_clinician_first=_nsaid_unsuitable,
    ),
    ActivityRule("ice-heat", _not_emergency, _text("ice-heat")),
    ActivityRule("aerobic-exercise", _not_emergency, _text("aerobic-exercise"), held_because=_held_unless_self_care),
    # The -extension / -flexion / -neutral row, chosen by the directional preference.
    ActivityRule(
        "directional-exercise",
        _not_emergency,
        _directional_text,
        held_because=_held_unless_self_care,
        code=_directional_code,
        reasons=lambda f: (f.preference.value,),
    ),
    ActivityRule(
        "core-stabilization", _not_emergency, _text("core-stabilization"), held_because=_held_unless_self_care
    ),
    ActivityRule(
        "pool-exercise",
        lambda f: not f.emergency and f.said_yes("land-exercise-painful"),
        _text("pool-exercise"),
        held_because=_held_unless_self_care,
    ),
    ActivityRule(
        "resume-home-program",
        lambda f: not f.emergency and f.said_yes("previous-pt"),
        _text("resume-home-program"),
        held_because=_held_unless_self_care,
    ),
    ActivityRule("lifting-posture", _not_emergency, _text("lifting-posture")),
    ActivityRule("sleep-support", lambda f: not f.emergency and f.said_yes("sleep-problems"), _text("sleep-support")),
    ActivityRule(
        "weight-management", lambda f: not f.emergency and f.bmi_at_least(BMI_OVERWEIGHT), _text("weight-management")
    ),
    ActivityRule("safety-net", lambda f: True, _text("safety-net")),
)
