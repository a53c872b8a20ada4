"""rules-v2.md, "Activities", "Stratified care" and "Directional preference": one test per
row, named by the row (a test per activity code, per medicine-safety row, per risk group,
per preference case); the table-to-test checks at the top keep the names honest."""

import pytest

from app.rules import ActivityStatus, Disposition, Preference, Priority, RiskGroup
from app.rules.activities_v2 import (
    ACETAMINOPHEN_ASK_FIRST_FOR,
    ACTIVITY_RULES_V2,
    NSAID_ASK_FIRST_FOR,
    NSAID_EXCLUDED_BY,
)
from app.rules.concepts_v2 import ASK_FIRST_REASON, ON_HOLD_REASON, SAFETY_NET_SIGNS, STOP_RULE
from app.rules.findings_v2 import FINDING_RULES_V2
from app.rules.model import Tier
from tests.support_v2 import answers_v2, startback_answers, triage_v2

EMERGENCY = dict(saddle_numbness=True)
URGENT = dict(pain_unbearable=True)
DOCTOR_SOON = dict(pain_at_rest=True)
DOCTOR = dict(injury=True)
SELF_CARE = dict()
BELOW_EMERGENCY = {"urgent": URGENT, "doctor-soon": DOCTOR_SOON, "doctor": DOCTOR, "self-care": SELF_CARE}
DIRECTIONAL = ("directional-exercise-extension", "directional-exercise-flexion", "directional-exercise-neutral")


def plan(**answers):
    result = triage_v2(answers_v2(**answers))
    return result, {a.code: a for a in result.activities}


def _tests_named(prefix):
    return {name.removeprefix(prefix).replace("_", "-") for name in globals() if name.startswith(prefix)}


def test_every_activity_row_has_a_test():
    rows = {r.row for r in ACTIVITY_RULES_V2} - {"directional-exercise"} | set(DIRECTIONAL)
    assert rows == _tests_named("test_activity_row_")


# --- the disposition's own activity, then the safety net -----------------------------------


def test_activity_row_referral_emergency():
    result, acts = plan(**EMERGENCY, leg_weakness=True, injury=True)
    item = acts["referral-emergency"]
    assert item.priority is Priority.STAT and item.status is ActivityStatus.NOT_STARTED
    assert set(item.reasons) == set(result.finding_codes) >= {"ces-saddle-numbness", "leg-weakness", "injury"}
    assert list(acts) == ["referral-emergency", "safety-net"]
    for answers in BELOW_EMERGENCY.values():
        assert "referral-emergency" not in plan(**answers)[1]


def test_activity_row_call_advice_line():
    _result, acts = plan(**URGENT, weight_loss=True)
    item = acts["call-advice-line"]
    assert item.priority is Priority.URGENT and set(item.reasons) == {"unbearable-pain", "weight-loss"}
    assert "If you cannot get through, go to urgent care or an emergency department today" in item.description
    assert list(acts)[:2] == ["call-advice-line", "safety-net"]
    for answers in (EMERGENCY, DOCTOR_SOON, DOCTOR, SELF_CARE):
        assert "call-advice-line" not in plan(**answers)[1]


def test_activity_row_doctor_visit():
    _, soon = plan(**DOCTOR_SOON)
    assert soon["doctor-visit"].priority is Priority.URGENT
    assert "within a few days" in soon["doctor-visit"].description
    assert "routine" not in soon["doctor-visit"].description
    _, routine = plan(**DOCTOR)
    assert routine["doctor-visit"].priority is Priority.ROUTINE and routine["doctor-visit"].reasons == ("injury",)
    assert "routine visit" in routine["doctor-visit"].description
    assert list(routine)[:2] == ["doctor-visit", "safety-net"]
    assert "other ways to ease the pain" in plan(otc_meds_not_helping=True)[1]["doctor-visit"].description
    assert "which pain medicine is safe" in plan(age=12)[1]["doctor-visit"].description
    for answers in (EMERGENCY, URGENT, SELF_CARE):
        assert "doctor-visit" not in plan(**answers)[1]


def test_activity_row_safety_net():
    for answers in (EMERGENCY, URGENT, DOCTOR_SOON, DOCTOR, SELF_CARE):
        result, acts = plan(**answers)
        net = acts["safety-net"]
        assert net.status is ActivityStatus.NOT_STARTED and net.description.startswith(SAFETY_NET_SIGNS)
        assert list(acts).index("safety-net") == (0 if result.disposition is Disposition.SELF_CARE else 1)
    # every E sign under "911", every U sign under "call us today"
    emergency_part, urgent_part = SAFETY_NET_SIGNS.split("Call us today")
    for rule in FINDING_RULES_V2:
        if rule.tier is Tier.E:
            assert rule.sign in emergency_part, rule.code
        elif rule.tier is Tier.U:
            assert rule.sign in urgent_part, rule.code
    assert plan(pain_duration="lt-6w")[1]["safety-net"].description.endswith("not better in 6 weeks.")
    assert "6 weeks" not in plan(pain_duration="6-12w")[1]["safety-net"].description.split(SAFETY_NET_SIGNS)[1]


# --- stratified care ----------------------------------------------------------------------


def test_activity_row_referral_physical_therapy():
    _, acts = plan(pain_duration="6-12w")  # without STarT Back: persistent pain, as in rules 1
    assert acts["referral-physical-therapy"].reasons == ("persistent-pain",)
    assert acts["referral-physical-therapy"].priority is Priority.ROUTINE
    _, acts = plan(**startback_answers(agree=3, distress_agree=1))  # medium risk, before 6 weeks
    assert acts["referral-physical-therapy"].reasons == ("startback-medium-risk",)
    assert acts["referral-physical-therapy"].status is ActivityStatus.NOT_STARTED
    _, acts = plan(**DOCTOR_SOON, **startback_answers(agree=3, distress_agree=1))
    assert acts["referral-physical-therapy"].status is ActivityStatus.ON_HOLD
    assert "referral-physical-therapy" not in plan(**URGENT, **startback_answers(agree=3, distress_agree=1))[1]
    assert "referral-physical-therapy" not in plan()[1]


def test_activity_row_referral_psychologically_informed_pt():
    high = startback_answers(agree=2, distress_agree=3, bothersome="extremely")
    result, acts = plan(**high)
    assert result.startback.risk is RiskGroup.HIGH
    item = acts["referral-psychologically-informed-pt"]
    assert item.priority is Priority.ROUTINE and item.reasons == ("startback-high-risk",)
    assert item.status is ActivityStatus.NOT_STARTED and "referral-physical-therapy" not in acts
    assert plan(**DOCTOR, **high)[1]["referral-psychologically-informed-pt"].status is ActivityStatus.ON_HOLD
    assert "referral-psychologically-informed-pt" not in plan(**URGENT, **high)[1]
    assert "referral-psychologically-informed-pt" not in plan(**EMERGENCY, **high)[1]


@pytest.mark.parametrize(
    "row, answers, total, distress, risk",
    [
        ("low", startback_answers(agree=3, bothersome="moderately"), 3, 0, RiskGroup.LOW),
        ("medium", startback_answers(agree=1, distress_agree=3), 4, 3, RiskGroup.MEDIUM),
        ("high", startback_answers(agree=0, distress_agree=3, bothersome="very-much"), 4, 4, RiskGroup.HIGH),
    ],
)
def test_stratified_care_row(row, answers, total, distress, risk):
    result, acts = plan(**answers)
    assert (result.startback.total, result.startback.distress, result.startback.risk) == (total, distress, risk)
    assert result.startback.risk.value == row
    assert result.disposition is Disposition.SELF_CARE  # stratification never changes the disposition
    referrals = {"referral-physical-therapy", "referral-psychologically-informed-pt"} & set(acts)
    assert (
        referrals
        == {"low": set(), "medium": {"referral-physical-therapy"}, "high": {"referral-psychologically-informed-pt"}}[
            row
        ]
    )


def test_stratified_care_without_startback_has_no_scores():
    assert triage_v2(answers_v2()).startback is None


# --- education, rest, medicines -------------------------------------------------------------


def test_activity_row_education_back_pain():
    for answers in BELOW_EMERGENCY.values():
        text = plan(**answers)[1]["education-back-pain"].description
        assert "6 weeks" in text and "Scans" in text and "degenerative" in text
    assert "education-back-pain" not in plan(**EMERGENCY)[1]


def test_activity_row_relative_rest():
    for answers in BELOW_EMERGENCY.values():
        assert "Avoid bed rest" in plan(**answers)[1]["relative-rest"].description
    assert "relative-rest" not in plan(**EMERGENCY)[1]


def test_activity_row_analgesia_nsaid():
    item = plan()[1]["analgesia-nsaid"]
    assert item.status is ActivityStatus.NOT_STARTED
    for words in ("lowest dose", "shortest time", "with food", "Never take two", "black"):
        assert words in item.description
    assert "analgesia-nsaid" not in plan(**EMERGENCY)[1]


@pytest.mark.parametrize(
    "row, answers",
    [
        ("under 16", dict(age=15)),
        ("pregnancy", dict(pregnant=True)),
        ("a condition or medicine that may not mix with NSAIDs", dict(nsaid_caution=True)),
        ("over-the-counter anti-inflammatories have not helped", dict(otc_meds_not_helping=True)),
    ],
)
def test_nsaid_excluded_by_row(row, answers):
    result, acts = plan(**answers)
    assert "analgesia-nsaid" not in acts
    nsaid = next(d for d in result.medicines if d.medicine == "NSAID")
    assert nsaid.decision == "withheld" and row in nsaid.reasons


@pytest.mark.parametrize(
    "row, answers",
    [
        ("age 65 or over", dict(age=65, previous_episodes=True)),
        ("long-term steroids", dict(steroid_long_term=True)),
    ],
)
def test_nsaid_ask_first_for_row(row, answers):
    result, acts = plan(**answers)
    item = acts["analgesia-nsaid"]
    assert item.status is ActivityStatus.ON_HOLD and item.hold_reason == ASK_FIRST_REASON
    assert item.description.startswith("Ask a pharmacist or doctor")
    nsaid = next(d for d in result.medicines if d.medicine == "NSAID")
    assert nsaid.decision.startswith("on hold") and row in nsaid.reasons
    assert acts["analgesia-acetaminophen"].status is ActivityStatus.NOT_STARTED


def test_activity_row_analgesia_acetaminophen():
    assert "analgesia-acetaminophen" not in plan()[1]  # the NSAID is offered
    item = plan(otc_meds_not_helping=True)[1]["analgesia-acetaminophen"]
    assert item.reasons == ("otc-not-helping",) and item.ask_clinician_first is False
    for words in ("package says", "check the labels", "alcohol", "liver disease"):
        assert words in item.description
    assert "ease pain" not in item.description and "can ease" not in item.description
    assert "analgesia-acetaminophen" not in plan(age=15)[1]  # under 16: the doctor advises
    assert "analgesia-acetaminophen" not in plan(**EMERGENCY)[1]


@pytest.mark.parametrize(
    "row, answers, says, not_says",
    [
        ("pregnancy", dict(pregnant=True, nsaid_caution=True), "Because you are pregnant", "may not be safe for you"),
        ("caution", dict(nsaid_caution=True), "may not be safe for you", "pregnant"),
    ],
)
def test_acetaminophen_ask_first_for_row(row, answers, says, not_says):
    item = plan(**answers)[1]["analgesia-acetaminophen"]
    assert item.ask_clinician_first is True
    assert says in item.description and not_says not in item.description  # the reason that applies, not both


def test_every_medicine_safety_row_has_a_test():
    ids = {
        "nsaid_excluded_by": NSAID_EXCLUDED_BY,
        "nsaid_ask_first_for": NSAID_ASK_FIRST_FOR,
        "acetaminophen_ask_first_for": ACETAMINOPHEN_ASK_FIRST_FOR,
    }
    for name, table in ids.items():
        marks = globals()[f"test_{name}_row"].pytestmark
        tested = {case[0] for mark in marks if mark.name == "parametrize" for case in mark.args[1]}
        assert tested == {reason for reason, _ in table}, name


def test_no_medicine_activity_under_16():
    _, acts = plan(age=15)
    assert not {"analgesia-nsaid", "analgesia-acetaminophen"} & set(acts)


# --- ice and heat, exercise -------------------------------------------------------------------


def test_activity_row_ice_heat():
    text = plan()[1]["ice-heat"].description
    assert "15 to 20 minutes" in text and "cloth" in text and "numb" in text
    assert "ice-heat" not in plan(**EMERGENCY)[1]


def _exercise_rules(code, extra=None):
    extra = extra or {}
    item = plan(**extra)[1][code]
    assert item.status is ActivityStatus.NOT_STARTED and STOP_RULE in item.description
    assert any(ch.isdigit() for ch in item.description)  # a dose
    for answers in (URGENT, DOCTOR_SOON, DOCTOR, dict(pregnant=True), dict(age=17)):
        acts = plan(**answers, **extra)[1]
        # pregnancy makes the direction neutral: the directional row is then -neutral
        held = acts[code] if code in acts else acts["directional-exercise-neutral"]
        assert held.status is ActivityStatus.ON_HOLD and held.hold_reason == ON_HOLD_REASON
    assert code not in plan(**EMERGENCY, **extra)[1]


def test_activity_row_aerobic_exercise():
    _exercise_rules("aerobic-exercise")
    assert "30 minutes" in plan()[1]["aerobic-exercise"].description  # the progression


def test_activity_row_core_stabilization():
    _exercise_rules("core-stabilization")
    text = plan()[1]["core-stabilization"].description
    assert "lift your hips" in text and "for life" in text and "each week" in text  # exercise, habit, progression


def test_activity_row_pool_exercise():
    _exercise_rules("pool-exercise", dict(land_exercise_painful=True))
    assert "pool-exercise" not in plan()[1]


def test_activity_row_resume_home_program():
    _exercise_rules("resume-home-program", dict(previous_pt=True))
    assert "resume-home-program" not in plan()[1]


def test_activity_row_directional_exercise_extension():
    result, acts = plan(position_arching="better")  # relief counts in rules 2
    assert result.preference is Preference.FLEXION_SENSITIVE
    assert acts["directional-exercise-extension"].reasons == ("flexion-sensitive",)
    _exercise_rules("directional-exercise-extension", dict(position_bending="worse"))


def test_activity_row_directional_exercise_flexion():
    result, acts = plan(position_sitting="better")
    assert result.preference is Preference.EXTENSION_SENSITIVE
    assert "directional-exercise-flexion" in acts
    _exercise_rules("directional-exercise-flexion", dict(position_walking="worse"))


def test_activity_row_directional_exercise_neutral():
    _exercise_rules("directional-exercise-neutral")
    text = plan()[1]["directional-exercise-neutral"].description
    assert "suggestion" in text and "rock your knees" in text


@pytest.mark.parametrize(
    "row, positions, expected",
    [
        ("flexion hurts", dict(position_bending="worse"), Preference.FLEXION_SENSITIVE),
        ("extension relieves", dict(position_walking="better"), Preference.FLEXION_SENSITIVE),
        ("extension hurts", dict(position_standing="worse"), Preference.EXTENSION_SENSITIVE),
        ("flexion relieves", dict(position_squatting="better"), Preference.EXTENSION_SENSITIVE),
        ("both directions", dict(position_bending="worse", position_standing="worse"), Preference.NO_PREFERENCE),
        (
            "flexion hurts and relieves",
            dict(position_bending="worse", position_sitting="better", position_arching="no-change"),
            Preference.NO_PREFERENCE,
        ),
        ("nothing answered", dict(), Preference.NO_PREFERENCE),
        ("pregnancy", dict(pregnant=True, position_bending="worse"), Preference.NO_PREFERENCE),
    ],
)
def test_directional_preference_v2_row(row, positions, expected):
    assert triage_v2(answers_v2(**positions)).preference is expected, row


# --- the rest ---------------------------------------------------------------------------------


def test_activity_row_lifting_posture():
    for answers in BELOW_EMERGENCY.values():
        assert "bend at the knees" in plan(**answers)[1]["lifting-posture"].description
    assert "lifting-posture" not in plan(**EMERGENCY)[1]


def test_activity_row_sleep_support():
    assert "sleep-support" in plan(sleep_problems=True)[1]
    assert "sleep-support" in plan(sleep_problems=True, **DOCTOR)[1]
    assert "sleep-support" not in plan()[1]
    assert "sleep-support" not in plan(sleep_problems=True, **EMERGENCY)[1]


@pytest.mark.parametrize(
    "height, weight, included",
    [
        (160.0, 64.0, True),  # 25.0 exactly: rules 1's binary arithmetic made it 24.999…
        (170.0, 72.1, False),  # 24.948 → 24.9
        (170.0, 72.2, True),  # 24.983 → 25.0 (rounded to one decimal, then compared)
    ],
)
def test_activity_row_weight_management(height, weight, included):
    _result, acts = plan(height_cm=height, weight_kg=weight)
    assert ("weight-management" in acts) is included
    assert "weight-management" not in plan(height_cm=160.0, weight_kg=90.0, pregnant=True)[1]
    assert "weight-management" not in plan(height_cm=160.0, weight_kg=90.0, age=17)[1]
    assert "weight-management" not in plan(height_cm=160.0, weight_kg=90.0, **EMERGENCY)[1]
    assert "weight-management" not in plan(weight_kg=120.0)[1]  # no height: no BMI
