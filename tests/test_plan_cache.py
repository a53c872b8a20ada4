"""The plan cache (app.rules.plan.FactsCache): keyed by the questions the rows ask of the facts.

A plan may be shared only between facts that answer every question the rows asked alike,
and a row that reads a new fact must change the key. Synthetic rows added to the real
rules-2 table prove the second; generated triages prove the first."""

from dataclasses import replace

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from app.rules import Disposition, Preference
from app.rules.activities_v2 import ACTIVITY_RULES_V2, medicine_decisions
from app.rules.plan import ActivityRule, FactsCache, PlanFacts, Planner, RecordingFacts, evaluate_rows
from app.rules.rulesets import RULES_V2
from tests.strategies_v2 import valid_answers_v2
from tests.support_v2 import answers_v2, triage_v2


def facts_of(answers):
    result = triage_v2(answers)
    return PlanFacts.of(
        result.disposition,
        result.preference,
        result.findings,
        answers,
        result.startback.risk if result.startback else None,
    )


def synthetic(code, included_when):
    return ActivityRule(code, included_when, lambda f: "A synthetic activity.")


def test_facts_alike_in_every_question_asked_share_one_plan():
    planner = Planner(ACTIVITY_RULES_V2)
    # No row of rules 2 reads `stops-activity`, nor an age of 40 rather than 41.
    a = facts_of(answers_v2(stops_activity=False, age=40))
    b = facts_of(answers_v2(stops_activity=True, age=41))
    assert a != b
    plan = planner.plan(a)
    assert planner.key(a) == planner.key(b)
    assert planner.plan(b) is plan
    assert plan == evaluate_rows(ACTIVITY_RULES_V2, b)


def test_a_row_reading_a_new_fact_changes_the_key():
    a = facts_of(answers_v2(stops_activity=False))
    b = facts_of(answers_v2(stops_activity=True))
    planner = Planner((*ACTIVITY_RULES_V2, synthetic("rest-from-work", lambda f: f.said_yes("stops-activity"))))
    plan_a = planner.plan(a)
    assert ("said_yes", ("stops-activity",)) in planner._plans.questions
    assert planner.key(a) != planner.key(b)
    plan_b = planner.plan(b)
    assert "rest-from-work" not in [x.code for x in plan_a]
    assert "rest-from-work" in [x.code for x in plan_b]
    assert plan_a == evaluate_rows(planner.rows, a) and plan_b == evaluate_rows(planner.rows, b)


@pytest.mark.parametrize(
    "reads",
    [
        lambda f: f.age is not None and f.age % 2 == 0,  # a raw field
        lambda f: f.yes and "stops-activity" in f.yes,  # the whole set of yes-answers
        lambda f: f.bmi is not None and f.bmi > 30,  # the unrounded BMI
        lambda f: f.age_below(41),  # a question method with a new argument
    ],
)
def test_any_kind_of_read_is_recorded(reads):
    planner = Planner((*ACTIVITY_RULES_V2, synthetic("synthetic", reads)))
    facts = [
        facts_of(answers_v2(age=age, stops_activity=yes, height_cm=170.0, weight_kg=weight))
        for age in (40, 41)
        for yes in (False, True)
        for weight in (60.0, 95.0)
    ]
    for f in facts:
        assert planner.plan(f) == evaluate_rows(planner.rows, f)
    for f in facts:  # once every question is known, every key still gives its own plan
        assert planner.plan(f) == evaluate_rows(planner.rows, f)
    assert {"synthetic" in [x.code for x in planner.plan(f)] for f in facts} == {False, True}


def test_a_question_asked_only_on_some_paths_joins_the_key_when_first_asked():
    # The synthetic row reads `stops-activity` only for self-care plans: an urgent plan
    # cached first must not make a later self-care plan skip the question.
    planner = Planner(
        (*ACTIVITY_RULES_V2, synthetic("rest-from-work", lambda f: f.self_care and f.said_yes("stops-activity")))
    )
    urgent = facts_of(answers_v2(leg_weakness=True))
    assert urgent.disposition is Disposition.URGENT
    planner.plan(urgent)
    assert ("said_yes", ("stops-activity",)) not in planner._plans.questions
    no, yes = facts_of(answers_v2(stops_activity=False)), facts_of(answers_v2(stops_activity=True))
    assert no.self_care
    assert planner.plan(no) == evaluate_rows(planner.rows, no)
    assert planner.plan(yes) == evaluate_rows(planner.rows, yes)
    assert planner.plan(yes) != planner.plan(no)


def test_rows_see_nothing_but_the_facts():
    view = RecordingFacts(facts_of(answers_v2()))
    with pytest.raises(AttributeError):
        view.answers  # noqa: B018 - the raw answers are out of reach
    assert view.said_yes("pregnant") is False and view.disposition is Disposition.SELF_CARE
    assert list(view.asked) == [("said_yes", ("pregnant",)), ("disposition", None)]


def test_the_medicine_decisions_cache_agrees_with_the_table():
    cached = FactsCache(medicine_decisions)
    for answers in (
        answers_v2(),
        answers_v2(age=70),
        answers_v2(pregnant=True),
        answers_v2(age=15),
        answers_v2(nsaid_caution=True),
        answers_v2(age=71),
    ):
        facts = facts_of(answers)
        assert cached(facts) == medicine_decisions(facts)


@given(valid_answers_v2(), valid_answers_v2())
def test_a_plan_cached_for_other_facts_is_never_served_wrongly(first, second):
    planner = Planner(ACTIVITY_RULES_V2)
    a, b = facts_of(first), facts_of(second)
    planner.plan(a)  # the cache holds the first plan (and knows the questions asked for it)
    assert planner.plan(b) == evaluate_rows(ACTIVITY_RULES_V2, b)
    assert planner.plan(a) == evaluate_rows(ACTIVITY_RULES_V2, a)
    if planner.key(a) == planner.key(b):  # one cached plan (the findings copied in afterwards)
        assert planner._plans(a) is planner._plans(b)


FIELDS = ["yes", "age", "bmi", "bmi_rounded", "pain_duration", "startback_risk", "preference"]


@given(valid_answers_v2(), valid_answers_v2(), st.sets(st.sampled_from(FIELDS), min_size=1))
def test_facts_with_the_same_key_get_the_same_fresh_plan(first, second, taken):
    """Facts mixed from two triages (some fields from the second): whenever the shared
    planner gives them the same key, walking the table afresh gives the same plan."""
    a, b = facts_of(first), facts_of(second)
    mixed = replace(a, **{name: getattr(b, name) for name in taken})
    assume(mixed != a)
    RULES_V2.planner.plan(a)
    RULES_V2.planner.plan(mixed)
    same_key = RULES_V2.planner.key(a) == RULES_V2.planner.key(mixed)
    assert not same_key or evaluate_rows(ACTIVITY_RULES_V2, a) == evaluate_rows(ACTIVITY_RULES_V2, mixed)
    assert RULES_V2.planner.plan(mixed) == evaluate_rows(ACTIVITY_RULES_V2, mixed)


def test_plans_alike_but_for_the_findings_share_one_cached_plan():
    # Two urgent plans from different signs: the disposition's activity lists each its own
    # findings, but no row asks about these signs, so the cached plan is one.
    planner = Planner(ACTIVITY_RULES_V2)
    a, b = facts_of(answers_v2(leg_weakness=True)), facts_of(answers_v2(leg_numbness=True))
    assert a.findings != b.findings and a.disposition is b.disposition is Disposition.URGENT
    plan_a, plan_b = planner.plan(a), planner.plan(b)
    assert planner.key(a) == planner.key(b) and planner._plans(a) is planner._plans(b)
    assert plan_a == evaluate_rows(ACTIVITY_RULES_V2, a) and plan_b == evaluate_rows(ACTIVITY_RULES_V2, b)
    assert plan_a[0].reasons == a.findings and plan_b[0].reasons == b.findings


def test_the_preference_is_in_the_key_where_the_directional_row_reads_it():
    planner = Planner(ACTIVITY_RULES_V2)
    a = facts_of(answers_v2())
    b = replace(a, preference=Preference.FLEXION_SENSITIVE)
    planner.plan(a)
    assert planner.key(a) != planner.key(b)
    assert planner.plan(b) == evaluate_rows(ACTIVITY_RULES_V2, b) != planner.plan(a)
