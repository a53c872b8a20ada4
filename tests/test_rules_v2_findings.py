"""rules-v2.md, "Findings (rules 2)": one test per row, named by the row's code.

Each case gives answers that fire the finding (checking its tier, its source and the
answers recorded behind it) and near-misses that must not fire it. The firing answers
are also checked to be a valid response to Questionnaire 2.0.0.
"""

import pytest

from app.rules import Disposition, Tier
from app.rules.findings_v2 import FINDING_RULES_V2, FINDING_RULES_V2_BY_CODE, INFLAMMATORY_ITEMS
from app.triage.validation import validate_response
from tests.support_v2 import answers_v2, response_v2, triage_v2

FOUR_IBP = {link_id.replace("-", "_"): True for link_id in INFLAMMATORY_ITEMS[:4]}
THREE_IBP = {link_id.replace("-", "_"): True for link_id in INFLAMMATORY_ITEMS[:3]}

# row code: (tier, firing answers, expected evidence, near-misses)
ROWS = {
    "ces-bladder-bowel": (
        Tier.E,
        dict(bladder_bowel_control=True, bladder_bowel_new=True),
        {("bladder-bowel-control", True), ("bladder-bowel-new", True)},
        [dict(bladder_bowel_control=True, bladder_bowel_new=False), dict()],
    ),
    "ces-urinary": (
        Tier.E,
        dict(urination_difficulty=True, urination_new=True),
        {("urination-difficulty", True), ("urination-new", True)},
        [dict(urination_difficulty=True, urination_new=False)],
    ),
    "ces-saddle-numbness": (Tier.E, dict(saddle_numbness=True), {("saddle-numbness", True)}, [dict()]),
    "ces-sexual": (Tier.E, dict(sexual_dysfunction=True), {("sexual-dysfunction", True)}, [dict()]),
    "ces-bilateral-neuro": (
        Tier.E,
        dict(leg_weakness=True, leg_weakness_both=True),
        {("leg-weakness-both", True)},
        [
            dict(leg_weakness=True),
            dict(leg_tingling=True, leg_symptoms_both=True),
            dict(severe_leg_pain=True, leg_symptoms_both=True),
        ],
    ),
    "progressive-weakness": (
        Tier.E,
        dict(leg_weakness=True, leg_weakness_progressing=True),
        {("leg-weakness-progressing", True)},
        [dict(leg_weakness=True)],
    ),
    "cancer-neuro": (
        Tier.E,
        dict(cancer_history=True, leg_numbness=True),
        {("cancer-history", True), ("leg-numbness", True)},
        [dict(cancer_history=True), dict(leg_numbness=True), dict(cancer_history=True, leg_tingling=True)],
    ),
    "possible-sepsis": (
        Tier.E,
        dict(fever=True, very_unwell=True),
        {("fever", True), ("very-unwell", True)},
        [dict(fever=True, very_unwell=False)],
    ),
    "major-trauma": (
        Tier.E,
        dict(injury=True, injury_major=True),
        {("injury-major", True)},
        [dict(injury=True, injury_major=False)],
    ),
    "sphincter-long-standing": (
        Tier.U,
        dict(urination_difficulty=True, urination_new=False),
        {("urination-difficulty", True), ("urination-new", False)},
        [dict(urination_difficulty=True, urination_new=True), dict()],
    ),
    "bilateral-leg-symptoms": (
        Tier.U,
        dict(leg_tingling=True, leg_symptoms_both=True),
        {("leg-symptoms-both", True)},
        [dict(leg_tingling=True)],
    ),
    "leg-weakness": (Tier.U, dict(leg_weakness=True), {("leg-weakness", True)}, [dict()]),
    "sensation-loss": (Tier.U, dict(leg_numbness=True), {("leg-numbness", True)}, [dict(leg_tingling=True)]),
    "infection-risk": (
        Tier.U,
        dict(pain_new_or_worse=True, iv_drug_use=True),
        {("iv-drug-use", True), ("pain-new-or-worse", True)},
        [dict(iv_drug_use=True), dict(spinal_procedure_recent=True), dict(pain_new_or_worse=True)],
    ),
    "malignancy-immune-risk": (
        Tier.U,
        dict(pain_new_or_worse=True, steroid_long_term=True),
        {("pain-new-or-worse", True), ("steroid-long-term", True)},
        [dict(cancer_history=True), dict(steroid_long_term=True)],
    ),
    "unbearable-pain": (
        Tier.U,
        dict(pain_unbearable=True),
        {("pain-unbearable", True)},
        [dict(pain_intensity=10), dict(pain_at_rest=True)],
    ),
    "fracture-risk": (
        Tier.U,
        dict(injury=True, osteoporosis=True),
        {("injury", True), ("osteoporosis", True)},
        [dict(osteoporosis=True), dict(injury=True, age=69)],
    ),
    "abdominal-pain-older": (
        Tier.U,
        dict(abdominal_pain=True, age=50),
        {("abdominal-pain", True), ("age", 50)},
        [dict(abdominal_pain=True, age=49)],
    ),
    "cancer-history": (Tier.S, dict(cancer_history=True), {("cancer-history", True)}, [dict()]),
    "weight-loss-over-60": (
        Tier.S,
        dict(weight_loss=True, age=60, previous_episodes=True),
        {("weight-loss", True), ("age", 60)},
        [dict(weight_loss=True, age=59)],
    ),
    "systemic-symptoms": (
        Tier.S,
        dict(nausea_vomiting=True),
        {("nausea-vomiting", True)},
        [dict(recent_infection=True)],
    ),
    "rest-pain": (Tier.S, dict(pain_at_rest=True), {("pain-at-rest", True)}, [dict(pain_unbearable=True)]),
    "leg-symptoms": (Tier.D, dict(leg_tingling=True), {("leg-tingling", True)}, [dict(pain_radiation="below-knee")]),
    "weight-loss": (Tier.D, dict(weight_loss=True), {("weight-loss", True)}, [dict()]),
    "immune-or-steroid": (Tier.D, dict(steroid_long_term=True), {("steroid-long-term", True)}, [dict()]),
    "injury": (Tier.D, dict(injury=True), {("injury", True)}, [dict()]),
    "persistent-pain": (
        Tier.D,
        dict(pain_duration="6-12w"),
        {("pain-duration", "6-12w")},
        [dict(pain_duration="lt-6w")],
    ),
    "otc-not-helping": (
        Tier.D,
        dict(otc_meds_not_helping=True),
        {("otc-meds-not-helping", True)},
        [dict(otc_meds_not_helping=False)],
    ),
    "under-18": (Tier.D, dict(age=17), {("age", 17)}, [dict(age=18)]),
    "pregnancy": (Tier.D, dict(pregnant=True), {("pregnant", True)}, [dict(pregnant=False)]),
    "older-first-episode": (
        Tier.D,
        dict(age=50),
        {("age", 50), ("previous-episodes", None)},
        [dict(age=50, previous_episodes=True), dict(age=49)],
    ),
    "thoracic-pain": (Tier.D, dict(thoracic_pain=True), {("thoracic-pain", True)}, [dict()]),
    "abdominal-pain": (Tier.D, dict(abdominal_pain=True), {("abdominal-pain", True)}, [dict()]),
    "inflammatory-back-pain": (
        Tier.D,
        dict(age=30, pain_duration="gt-12w", **FOUR_IBP),
        {("age", 30), *((link_id, True) for link_id in INFLAMMATORY_ITEMS[:4])},
        [dict(age=30, pain_duration="gt-12w", **THREE_IBP), dict(age=45, pain_duration="gt-12w", **FOUR_IBP)],
    ),
}


def test_every_row_of_the_table_has_a_case():
    assert [rule.code for rule in FINDING_RULES_V2] == list(ROWS)


def test_every_row_names_its_tier_and_a_source_and_e_and_u_rows_a_sign():
    for rule in FINDING_RULES_V2:
        assert rule.source.strip()
        assert (rule.sign is not None) == (rule.tier in (Tier.E, Tier.U)), rule.code


@pytest.mark.parametrize("row", ROWS)
def test_finding_row(row):
    tier, firing, evidence, near_misses = ROWS[row]
    answers = answers_v2(**firing)
    validate_response(response_v2(answers))  # a response Questionnaire 2.0.0 accepts
    result = triage_v2(answers)
    found = {f.code: f for f in result.findings}
    assert row in found, f"{row} should fire on {firing}"
    assert found[row].tier is tier is FINDING_RULES_V2_BY_CODE[row].tier
    assert set(found[row].evidence) == evidence
    assert result.disposition >= tier.disposition
    for miss in near_misses:
        assert row not in triage_v2(answers_v2(**miss)).finding_codes, f"{row} fired on {miss}"


def test_ces_bilateral_neuro_row_second_branch_symptoms_in_both_legs_with_numbness():
    result = triage_v2(answers_v2(leg_numbness=True, leg_symptoms_both=True))
    assert "ces-bilateral-neuro" in result.finding_codes
    assert result.disposition is Disposition.EMERGENCY


def test_steroid_inhaler_is_not_counted():
    # rules 1 sent any steroid user with new pain to the advice line; rules 2 asks for 3 months of tablets
    result = triage_v2(answers_v2(pain_new_or_worse=True, steroid_long_term=False))
    assert result.disposition is Disposition.SELF_CARE


def test_several_findings_of_several_tiers_are_all_reported_most_urgent_first():
    result = triage_v2(answers_v2(saddle_numbness=True, leg_weakness=True, cancer_history=True, injury=True))
    assert {"ces-saddle-numbness", "cancer-neuro", "leg-weakness", "cancer-history", "injury"} <= set(
        result.finding_codes
    )
    ranks = [f.tier.disposition for f in result.findings]
    assert ranks == sorted(ranks, reverse=True)
