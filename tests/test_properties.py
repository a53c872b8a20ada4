"""Safety properties over generated valid responses (triage-rules.md, "Dispositions")."""

from hypothesis import assume, given
from hypothesis import strategies as st

from app.rules import Disposition
from app.triage.scoring import careplan_for, score
from tests.strategies import valid_answers
from tests.support import WARNING_SIGNS, activity_codes, response, triage_v1

ALL_SIGNS = [*WARNING_SIGNS, "leg-weakness-worsening"]


@given(valid_answers(), st.data(), st.booleans())
def test_a_yes_to_any_warning_sign_never_lowers_the_disposition(answers, data, worsening):
    answered_no = [sign for sign in ALL_SIGNS if answers.get(sign) is False]
    assume(answered_no)  # (disabled questions are not answered)
    sign = data.draw(st.sampled_from(answered_no), label="sign")
    before = score(response(answers)).result
    flipped = dict(answers, **{sign: True})
    if sign == "leg-weakness":
        flipped["leg-weakness-worsening"] = worsening  # the newly enabled question is answered
    after = score(response(flipped)).result
    assert after.disposition >= before.disposition
    assert set(before.finding_codes) <= set(after.finding_codes)  # findings are only ever added


@given(valid_answers())
def test_an_emergency_plan_holds_only_the_referral_and_the_safety_net(answers):
    scored = score(response(answers))
    careplan = careplan_for(scored)
    if scored.result.disposition is Disposition.EMERGENCY:
        assert activity_codes(careplan) == ["referral-emergency", "safety-net"]
    else:
        assert "referral-emergency" not in activity_codes(careplan)


@given(valid_answers())
def test_no_red_flag_is_lost_on_the_way_to_the_careplan(answers):
    scored = score(response(answers))
    careplan = careplan_for(scored)
    assert careplan["category"][0]["coding"][0]["code"] == scored.result.disposition.code
    reasons = {c["coding"][0]["code"] for a in careplan["activity"] for c in a["detail"].get("reasonCode", ())}
    assert set(scored.result.finding_codes) <= reasons
    for finding in scored.result.findings:
        assert finding.code in careplan["text"]["div"]


@given(valid_answers())
def test_the_engine_is_a_pure_function(answers):
    assert triage_v1(answers) == triage_v1(dict(answers))


@given(valid_answers())
def test_the_shared_plan_equals_walking_the_table_afresh(answers):
    from app.rules.activities import ACTIVITY_RULES
    from app.rules.plan import PlanFacts, evaluate_rows

    result = triage_v1(answers)
    facts = PlanFacts.of(result.disposition, result.preference, result.findings, answers)
    assert result.activities == evaluate_rows(ACTIVITY_RULES, facts)


@given(valid_answers())
def test_compiled_rule_predicates_agree_with_the_rule_tables(answers):
    from app.rules.conditions import same_verdict
    from app.rules.findings import FINDING_RULES

    for rule in FINDING_RULES:
        assert same_verdict(rule.fires_when, answers), rule.code
