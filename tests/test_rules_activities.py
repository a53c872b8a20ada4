"""triage-rules.md, "Activities" and "Directional preference": one test per row."""

import pytest

from app.rules import ActivityStatus, Disposition, Preference, Priority
from app.rules.activities import ACTIVITY_RULES
from app.triage.scoring import careplan_for, score
from tests.support import activity, activity_codes, answers_with, response, triage_v1

EMERGENCY = dict(bladder_bowel_control=True)
URGENT = dict(pain_intolerable=True)
DOCTOR = dict(injury=True)
SELF_CARE = dict()
NON_EMERGENCY = {"urgent": URGENT, "doctor": DOCTOR, "self-care": SELF_CARE}


def plan(**answers):
    result = triage_v1(answers_with(**answers))
    return result, {a.code: a for a in result.activities}


def test_every_activity_row_has_a_test():
    rows = {r.row for r in ACTIVITY_RULES} - {"directional-exercise"} | {
        "directional-exercise-extension",
        "directional-exercise-flexion",
        "directional-exercise-neutral",
    }
    tested = {
        name.removeprefix("test_activity_row_").replace("_", "-")
        for name in globals()
        if name.startswith("test_activity_row_")
    }
    assert rows == tested


def test_activity_row_referral_emergency():
    result, acts = plan(**EMERGENCY, leg_weakness=True, injury=True)
    item = acts["referral-emergency"]
    assert item.priority is Priority.STAT and item.status is ActivityStatus.NOT_STARTED
    # every finding, of every tier, is a reason on the emergency referral
    assert set(item.reasons) == set(result.finding_codes) >= {"ces-bladder-bowel", "leg-weakness", "injury"}
    for answers in NON_EMERGENCY.values():
        assert "referral-emergency" not in plan(**answers)[1]


def test_activity_row_call_advice_line():
    _result, acts = plan(**URGENT, weight_loss=True)
    assert acts["call-advice-line"].priority is Priority.URGENT
    assert set(acts["call-advice-line"].reasons) == {"intolerable-pain", "cancer-or-weight-loss"}
    for answers in (EMERGENCY, DOCTOR, SELF_CARE):
        assert "call-advice-line" not in plan(**answers)[1]


def test_activity_row_doctor_visit():
    _, acts = plan(**DOCTOR)
    assert acts["doctor-visit"].priority is Priority.ROUTINE
    assert acts["doctor-visit"].reasons == ("injury",)
    for answers in (EMERGENCY, URGENT, SELF_CARE):
        assert "doctor-visit" not in plan(**answers)[1]


def test_activity_row_referral_physical_therapy():
    for tier in ({}, URGENT):
        _, acts = plan(pain_duration="6-12w", **tier)
        assert acts["referral-physical-therapy"].priority is Priority.ROUTINE
        assert acts["referral-physical-therapy"].reasons == ("persistent-pain",)
    assert "referral-physical-therapy" not in plan(pain_duration="gt-12w", **EMERGENCY)[1]
    assert "referral-physical-therapy" not in plan()[1]


def _in_every_plan_but_emergency(code):
    """What several rows share (asserted once per row, by that row's test)."""
    for answers in NON_EMERGENCY.values():
        assert plan(**answers)[1][code].status is ActivityStatus.NOT_STARTED
    assert code not in plan(**EMERGENCY)[1]


def test_activity_row_relative_rest():
    _in_every_plan_but_emergency("relative-rest")


def test_activity_row_ice_heat():
    _in_every_plan_but_emergency("ice-heat")


def test_activity_row_lifting_posture():
    _in_every_plan_but_emergency("lifting-posture")


def test_activity_row_analgesia_nsaid():
    for answers in NON_EMERGENCY.values():
        assert "analgesia-nsaid" in plan(**answers)[1]
    assert "analgesia-nsaid" not in plan(pregnant=True)[1]
    assert "analgesia-nsaid" not in plan(nsaid_caution=True)[1]
    assert "analgesia-nsaid" not in plan(**EMERGENCY)[1]


def test_activity_row_analgesia_acetaminophen():
    _in_every_plan_but_emergency("analgesia-acetaminophen")
    assert plan()[1]["analgesia-acetaminophen"].ask_clinician_first is False
    for caution in (dict(pregnant=True), dict(nsaid_caution=True)):
        assert plan(**caution)[1]["analgesia-acetaminophen"].ask_clinician_first is True
    careplan = careplan_for(score(response(answers_with(pregnant=True))))
    assert "ask a doctor or pharmacist" in activity(careplan, "analgesia-acetaminophen")["description"]


def _on_hold_unless_self_care(code, extra):
    """What the exercise rows share (asserted once per row, by that row's test)."""
    assert plan(**extra)[1][code].status is ActivityStatus.NOT_STARTED
    for answers in (URGENT, DOCTOR):
        assert plan(**answers, **extra)[1][code].status is ActivityStatus.ON_HOLD
    assert code not in plan(**EMERGENCY, **extra)[1]


def test_activity_row_aerobic_exercise():
    _on_hold_unless_self_care("aerobic-exercise", {})


def test_activity_row_core_stabilization():
    _on_hold_unless_self_care("core-stabilization", {})


def test_activity_row_pool_exercise():
    _on_hold_unless_self_care("pool-exercise", dict(land_exercise_painful=True))
    assert "pool-exercise" not in plan()[1]


def test_activity_row_resume_home_program():
    _on_hold_unless_self_care("resume-home-program", dict(previous_pt=True))
    assert "resume-home-program" not in plan()[1]


def test_activity_row_directional_exercise_extension():
    result, acts = plan(position_bending="worse", position_sitting="worse", position_walking="better")
    assert result.preference is Preference.FLEXION_SENSITIVE
    assert acts["directional-exercise-extension"].reasons == ("flexion-sensitive",)
    assert "directional-exercise-flexion" not in acts and "directional-exercise-neutral" not in acts


def test_activity_row_directional_exercise_flexion():
    result, acts = plan(position_standing="worse", position_lying_prone="worse")
    assert result.preference is Preference.EXTENSION_SENSITIVE
    assert "directional-exercise-flexion" in acts


def test_activity_row_directional_exercise_neutral():
    _on_hold_unless_self_care("directional-exercise-neutral", {})
    result, acts = plan(position_bending="worse", position_walking="worse")  # both directions hurt
    assert result.preference is Preference.NO_PREFERENCE
    assert "directional-exercise-neutral" in acts


def test_activity_row_sleep_support():
    assert "sleep-support" in plan(sleep_problems=True)[1]
    assert "sleep-support" in plan(sleep_problems=True, **DOCTOR)[1]
    assert "sleep-support" not in plan()[1]
    assert "sleep-support" not in plan(sleep_problems=True, **EMERGENCY)[1]


def test_activity_row_weight_management():
    assert "weight-management" in plan(height_cm=170.0, weight_kg=72.3)[1]  # BMI 25.02
    assert "weight-management" not in plan(height_cm=170.0, weight_kg=72.0)[1]  # BMI 24.9
    assert "weight-management" not in plan(weight_kg=120.0)[1]  # no height: no BMI
    assert "weight-management" not in plan(height_cm=170.0, weight_kg=90.0, **EMERGENCY)[1]


def test_activity_row_safety_net():
    for answers in (EMERGENCY, URGENT, DOCTOR, SELF_CARE):
        assert plan(**answers)[1]["safety-net"].status is ActivityStatus.NOT_STARTED


def test_emergency_plan_holds_only_referral_and_safety_net():
    everything = dict(
        EMERGENCY,
        pain_duration="gt-12w",
        sleep_problems=True,
        previous_pt=True,
        land_exercise_painful=True,
        height_cm=160.0,
        weight_kg=100.0,
    )
    result, acts = plan(**everything)
    assert result.disposition is Disposition.EMERGENCY
    assert list(acts) == ["referral-emergency", "safety-net"]


def test_on_hold_items_carry_the_reason_in_the_careplan():
    careplan = careplan_for(score(response(answers_with(**DOCTOR))))
    held = activity(careplan, "aerobic-exercise")
    assert held["status"] == "on-hold"
    assert held["statusReason"]["text"] == "Start once your doctor clears you."
    assert activity(careplan, "relative-rest")["status"] == "not-started"


@pytest.mark.parametrize(
    "row, positions, expected",
    [
        ("flexion-sensitive", dict(position_squatting="worse"), Preference.FLEXION_SENSITIVE),
        ("flexion-sensitive", dict(position_bending="worse", position_arching="better"), Preference.FLEXION_SENSITIVE),
        (
            "extension-sensitive",
            dict(position_arching="worse", position_sitting="better"),
            Preference.EXTENSION_SENSITIVE,
        ),
        ("no-preference", dict(), Preference.NO_PREFERENCE),
        ("no-preference", dict(position_sitting="worse", position_standing="worse"), Preference.NO_PREFERENCE),
        ("no-preference", dict(position_sitting="worse", position_bending="better"), Preference.NO_PREFERENCE),
    ],
)
def test_directional_preference_row(row, positions, expected):
    result = triage_v1(answers_with(**positions))
    assert result.preference is expected and result.preference.value == row


def test_directional_exercise_text_says_it_is_a_suggestion_and_when_to_stop():
    careplan = careplan_for(score(response(answers_with(position_bending="worse"))))
    text = activity(careplan, "directional-exercise-extension")["description"]
    assert "suggestion" in text and "spread further down your leg" in text
    assert activity_codes(careplan)[-1] == "safety-net"
