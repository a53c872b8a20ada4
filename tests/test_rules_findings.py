"""triage-rules.md, "Findings": one test per row, named by the row's code.

Each case gives answers that fire the finding (checking its tier and the answers
recorded behind it) and near-misses that must not fire it.
"""

import pytest

from app.rules import Tier
from app.rules.findings import FINDING_RULES
from tests.support import answers_with, triage_v1

# row code: (tier, firing answers, expected evidence, near-misses)
ROWS = {
    "ces-bladder-bowel": (Tier.E, dict(bladder_bowel_control=True), {("bladder-bowel-control", True)}, [dict()]),
    "ces-saddle-numbness": (Tier.E, dict(saddle_numbness=True), {("saddle-numbness", True)}, [dict()]),
    "ces-urinary-neuro": (
        Tier.E,
        dict(urination_difficulty=True, leg_numbness=True),
        {("urination-difficulty", True), ("leg-numbness", True)},
        [dict(urination_difficulty=True), dict(leg_numbness=True), dict(leg_weakness=True)],
    ),
    "progressive-weakness": (
        Tier.E,
        dict(leg_weakness=True, leg_weakness_worsening=True),
        {("leg-weakness-worsening", True)},
        [dict(leg_weakness=True, leg_weakness_worsening=False)],
    ),
    "urinary-difficulty": (Tier.U, dict(urination_difficulty=True), {("urination-difficulty", True)}, [dict()]),
    "leg-weakness": (Tier.U, dict(leg_weakness=True), {("leg-weakness", True)}, [dict()]),
    "sensation-loss": (Tier.U, dict(leg_numbness=True), {("leg-numbness", True)}, [dict(leg_tingling=True)]),
    "infection-risk": (
        Tier.U,
        dict(pain_new_or_worse=True, recent_infection=True),
        {("pain-new-or-worse", True), ("recent-infection", True)},
        [dict(recent_infection=True), dict(fever=True), dict(pain_new_or_worse=True)],
    ),
    "malignancy-immune-risk": (
        Tier.U,
        dict(pain_new_or_worse=True, steroid_use=True),
        {("pain-new-or-worse", True), ("steroid-use", True)},
        [dict(cancer_history=True), dict(immune_problem=True), dict(steroid_use=True)],
    ),
    "intolerable-pain": (Tier.U, dict(pain_intolerable=True), {("pain-intolerable", True)}, [dict(pain_intensity=10)]),
    "fracture-risk": (
        Tier.U,
        dict(injury=True, age=70),
        {("injury", True), ("age", 70)},
        [dict(injury=True, age=69), dict(age=85), dict(steroid_use=True)],
    ),
    "leg-symptoms": (Tier.D, dict(leg_tingling=True), {("leg-tingling", True)}, [dict(pain_radiation="below-knee")]),
    "systemic-symptoms": (
        Tier.D,
        dict(nausea_vomiting=True),
        {("nausea-vomiting", True)},
        [dict(recent_infection=True)],
    ),
    "cancer-or-weight-loss": (Tier.D, dict(weight_loss=True), {("weight-loss", True)}, [dict()]),
    "immune-or-steroid": (Tier.D, dict(immune_problem=True), {("immune-problem", True)}, [dict()]),
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
}


def test_every_row_of_the_table_has_a_case():
    assert [rule.code for rule in FINDING_RULES] == list(ROWS)


@pytest.mark.parametrize("row", ROWS)
def test_finding_row(row):
    tier, firing, evidence, near_misses = ROWS[row]
    result = triage_v1(answers_with(**firing))
    found = {f.code: f for f in result.findings}
    assert row in found, f"{row} should fire on {firing}"
    assert found[row].tier is tier
    assert set(found[row].evidence) == evidence
    assert result.disposition >= tier.disposition
    for miss in near_misses:
        assert row not in triage_v1(answers_with(**miss)).finding_codes, f"{row} fired on {miss}"


@pytest.mark.parametrize(
    "answers, also",
    [
        (dict(fever=True, pain_new_or_worse=True), ("fever", True)),
        (dict(cancer_history=True, immune_problem=True, pain_new_or_worse=True), ("cancer-history", True)),
    ],
)
def test_any_of_records_every_answer_behind_the_finding(answers, also):
    result = triage_v1(answers_with(**answers))
    evidence = next(set(f.evidence) for f in result.findings if f.tier is Tier.U)
    assert also in evidence


def test_fracture_risk_row_with_steroids_at_any_age():
    result = triage_v1(answers_with(injury=True, steroid_use=True, age=30))
    assert "fracture-risk" in result.finding_codes


def test_persistent_pain_row_over_twelve_weeks():
    assert "persistent-pain" in triage_v1(answers_with(pain_duration="gt-12w")).finding_codes


def test_several_findings_of_several_tiers_are_all_reported():
    result = triage_v1(
        answers_with(bladder_bowel_control=True, urination_difficulty=True, injury=True, weight_loss=True)
    )
    assert {"ces-bladder-bowel", "urinary-difficulty", "injury", "cancer-or-weight-loss"} <= set(result.finding_codes)
    tiers = [f.tier for f in result.findings]
    assert tiers == sorted(tiers, key=lambda t: -t.disposition)  # most urgent first
