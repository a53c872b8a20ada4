"""rules-v2.md, "Dispositions": one test per row, named by the row's code."""

import pytest

from app.rules import Disposition
from tests.support_v2 import answers_v2, triage_v2


@pytest.mark.parametrize(
    "row, answers, expected",
    [
        ("emergency", dict(urination_difficulty=True, urination_new=True, leg_tingling=True), Disposition.EMERGENCY),
        ("urgent", dict(pain_unbearable=True, injury=True), Disposition.URGENT),
        ("doctor-soon", dict(weight_loss=True, age=62, previous_episodes=True), Disposition.DOCTOR_SOON),
        ("doctor", dict(injury=True, pain_duration="gt-12w"), Disposition.DOCTOR),
        ("self-care", dict(), Disposition.SELF_CARE),
    ],
)
def test_disposition_row(row, answers, expected):
    result = triage_v2(answers_v2(**answers))
    assert result.disposition is expected
    assert result.disposition.code == row


def test_doctor_soon_is_ordered_between_doctor_and_urgent():
    assert Disposition.DOCTOR < Disposition.DOCTOR_SOON < Disposition.URGENT
    assert Disposition.from_code("doctor-soon") is Disposition.DOCTOR_SOON


def test_disposition_is_the_most_urgent_tier_among_findings():
    result = triage_v2(answers_v2(cancer_history=True, pain_at_rest=True, injury=True))  # S, S, D
    assert result.disposition is Disposition.DOCTOR_SOON
