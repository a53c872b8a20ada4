"""Patient text of rules 2: Flesch-Kincaid grade 7 or below for every activity description
(in every variant a plan can hold) and for the safety net, measured with textstat."""

import warnings

import pytest

from app.rules.findings_v2 import FINDING_RULES_V2
from tests.support_v2 import answers_v2, startback_answers, triage_v2

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import textstat

MAX_GRADE = 7.0

# Answers that between them reach every text variant of every activity row.
PLANS = [
    dict(),
    dict(pain_unbearable=True),
    dict(pain_at_rest=True),
    dict(injury=True),
    dict(saddle_numbness=True),
    dict(pain_duration="6-12w"),
    dict(otc_meds_not_helping=True),
    dict(age=12),
    dict(age=70, previous_episodes=True),
    dict(steroid_long_term=True),
    dict(pregnant=True),
    dict(nsaid_caution=True),
    dict(position_bending="worse"),
    dict(position_standing="worse"),
    dict(land_exercise_painful=True, previous_pt=True, sleep_problems=True),
    dict(height_cm=160.0, weight_kg=90.0),
    startback_answers(agree=4),
    startback_answers(agree=2, distress_agree=4),
]


def _descriptions():
    texts = {}
    for answers in PLANS:
        for activity in triage_v2(answers_v2(**answers)).activities:
            texts.setdefault(activity.description, activity.code)
    return texts


DESCRIPTIONS = _descriptions()


def test_the_plans_reach_every_activity_of_rules_2():
    from app.rules.activities_v2 import ACTIVITY_RULES_V2

    reached = set(DESCRIPTIONS.values())
    rows = {r.row for r in ACTIVITY_RULES_V2} - {"directional-exercise"}
    assert rows <= reached | {"directional-exercise"}
    assert {"directional-exercise-extension", "directional-exercise-flexion", "directional-exercise-neutral"} <= reached


@pytest.mark.parametrize("text", sorted(DESCRIPTIONS), ids=lambda text: DESCRIPTIONS[text])
def test_activity_description_is_grade_7_or_below(text):
    assert textstat.flesch_kincaid_grade(text) <= MAX_GRADE, text


@pytest.mark.parametrize("rule", [r for r in FINDING_RULES_V2 if r.sign], ids=lambda r: r.code)
def test_each_safety_net_sign_is_grade_7_or_below(rule):
    assert textstat.flesch_kincaid_grade(rule.sign) <= MAX_GRADE, rule.sign


def test_the_safety_net_is_grade_7_or_below():
    nets = {
        a.description
        for answers in PLANS
        for a in triage_v2(answers_v2(**answers)).activities
        if a.code == "safety-net"
    }
    assert len(nets) == 2  # with and without the 6-week review
    for net in nets:
        assert textstat.flesch_kincaid_grade(net) <= MAX_GRADE
