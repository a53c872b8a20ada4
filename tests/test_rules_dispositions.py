"""triage-rules.md, "Dispositions": one test per row, named by the row's code."""

import pytest

from app.rules import Disposition
from tests.support import answers_with, triage_v1


@pytest.mark.parametrize(
    "row, answers, expected",
    [
        ("emergency", dict(saddle_numbness=True, leg_tingling=True, leg_weakness=True), Disposition.EMERGENCY),
        ("urgent", dict(pain_intolerable=True, injury=True), Disposition.URGENT),
        ("doctor", dict(injury=True, pain_duration="gt-12w"), Disposition.DOCTOR),
        ("self-care", dict(), Disposition.SELF_CARE),
    ],
)
def test_disposition_row(row, answers, expected):
    result = triage_v1(answers_with(**answers))
    assert result.disposition is expected
    assert result.disposition.code == row


def test_disposition_is_the_most_urgent_tier_among_findings():
    # an E-finding beside U and D findings still decides
    result = triage_v1(answers_with(bladder_bowel_control=True, leg_weakness=True, age=16))
    assert result.disposition is Disposition.EMERGENCY


def test_no_finding_means_self_care_with_no_finding_reported():
    result = triage_v1(answers_with())
    assert result.findings == ()
    assert result.disposition is Disposition.SELF_CARE
