"""Rules 2 over HTTP: the cases of the clinical review (issue 10) that rules 1 got wrong,
both Questionnaire versions side by side, and the CarePlan a clinician and a patient read."""

import re

import pytest
from sqlalchemy import select

from app.fhir.codesystem import answers_codesystem
from app.services import services
from app.store.tables import TriageEncounter
from tests.support import answers_with, assert_fhir_response, assert_valid_r4, post_triage, response
from tests.support_v2 import answers_v2, response_v2, startback_answers


def triage_http(client, **answers):
    r = post_triage(client, response_v2(answers_v2(**answers)))
    return assert_fhir_response(r, 201, "CarePlan")


def disposition(careplan):
    return careplan["category"][0]["coding"][0]["code"]


def activities(careplan):
    return {a["detail"]["code"]["coding"][0]["code"]: a["detail"] for a in careplan["activity"]}


@pytest.mark.parametrize(
    "case, answers, expected",
    [
        ("new difficulty passing urine alone", dict(urination_difficulty=True, urination_new=True), "emergency"),
        ("cancer with leg weakness", dict(cancer_history=True, leg_weakness=True), "emergency"),
        ("major trauma at 30", dict(age=30, injury=True, injury_major=True), "emergency"),
        ("weight loss at 62", dict(age=62, weight_loss=True, previous_episodes=True), "doctor-soon"),
        ("not eased by rest alone", dict(pain_at_rest=True), "doctor-soon"),
        ("steroid inhaler (not long-term tablets) with new pain", dict(pain_new_or_worse=True), "self-care"),
        ("long-standing urinary difficulty", dict(urination_difficulty=True, urination_new=False), "urgent"),
        ("fever and very unwell", dict(fever=True, very_unwell=True), "emergency"),
        ("abdominal pain at 70", dict(age=70, previous_episodes=True, abdominal_pain=True), "urgent"),
    ],
)
def test_review_case(client, case, answers, expected):
    assert disposition(triage_http(client, **answers)) == expected, case


def test_review_case_first_back_pain_at_82_is_not_self_care_and_has_no_active_nsaid(client):
    careplan = triage_http(client, age=82)
    assert disposition(careplan) == "doctor"
    nsaid = activities(careplan)["analgesia-nsaid"]
    assert nsaid["status"] == "on-hold" and nsaid["statusReason"]["text"] == "Ask a pharmacist or doctor first."


def test_review_case_bmi_160_cm_64_kg_gets_weight_management(client):
    assert "weight-management" in activities(triage_http(client, height_cm=160.0, weight_kg=64.0))
    # rules 1 keep their own arithmetic, so an old decision re-runs the same
    v1 = assert_fhir_response(
        post_triage(client, response(answers_with(height_cm=160.0, weight_kg=64.0))), 201, "CarePlan"
    )
    assert "weight-management" not in activities(v1)


def test_review_case_pregnant_patient_is_not_told_to_lose_weight(client):
    careplan = triage_http(client, pregnant=True, height_cm=160.0, weight_kg=90.0)
    acts = activities(careplan)
    assert "weight-management" not in acts and "analgesia-nsaid" not in acts
    assert "Because you are pregnant" in acts["analgesia-acetaminophen"]["description"]
    assert "NSAID withheld: pregnancy" in careplan["text"]["div"]


def test_review_case_a_9_year_old_gets_no_adult_medicine_text(client):
    acts = activities(triage_http(client, age=9))
    assert not {"analgesia-nsaid", "analgesia-acetaminophen", "weight-management"} & set(acts)
    assert all(a["status"] == "on-hold" for code, a in acts.items() if "exercise" in code)


def test_review_case_the_advice_line_plan_has_a_fallback(client):
    call = activities(triage_http(client, pain_unbearable=True))["call-advice-line"]
    assert "urgent care or an emergency department today" in call["description"]


def test_both_versions_side_by_side_and_the_encounter_keeps_its_rules_version(client, app):
    v1 = assert_fhir_response(
        post_triage(client, response(answers_with(steroid_use=True, pain_new_or_worse=True))), 201, "CarePlan"
    )
    v2 = triage_http(client, steroid_long_term=False, pain_new_or_worse=True)
    unversioned = assert_fhir_response(
        post_triage(
            client, response_v2(answers_v2(), questionnaire="https://lbp-triage.org/fhir/Questionnaire/lbp-triage")
        ),
        201,
        "CarePlan",
    )
    assert v1["instantiatesCanonical"] == ["https://lbp-triage.org/fhir/PlanDefinition/lbp-triage-rules|1.0.0"]
    assert v2["instantiatesCanonical"] == ["https://lbp-triage.org/fhir/PlanDefinition/lbp-triage-rules|2.0.0"]
    assert unversioned["instantiatesCanonical"] == v2["instantiatesCanonical"]
    assert (disposition(v1), disposition(v2)) == ("urgent", "self-care")
    with services(app).engine.connect() as conn:
        stored = dict(conn.execute(select(TriageEncounter.careplan_id, TriageEncounter.rules_version)).all())
    assert stored[v1["id"]] == "1.0.0" and stored[v2["id"]] == "2.0.0" and stored[unversioned["id"]] == "2.0.0"
    again = assert_fhir_response(client.get(f"/fhir/CarePlan/{v1['id']}"), 200, "CarePlan")
    assert again["instantiatesCanonical"] == v1["instantiatesCanonical"]


def test_a_disabled_warning_sign_answered_is_a_422_for_a_clinician(client):
    answers = dict(answers_v2(), **{"urination-new": True})  # urination-difficulty is "no"
    outcome = assert_fhir_response(post_triage(client, response_v2(answers)), 422, "OperationOutcome")
    issue = outcome["issue"][0]
    assert issue["code"] == "business-rule" and "clinician" in issue["diagnostics"]


def test_startback_scores_are_contained_observations_in_supporting_info(client):
    careplan = triage_http(client, **startback_answers(agree=2, distress_agree=3, bothersome="very-much"))
    assert_valid_r4(careplan)
    contained = {obs["id"]: obs for obs in careplan["contained"]}
    assert {"#startback-total", "#startback-distress", "#startback-risk"} <= {
        ref.get("reference") for ref in careplan["supportingInfo"]
    }
    assert contained["startback-total"]["code"]["coding"][0]["code"] == "91351-7"
    assert contained["startback-total"]["valueInteger"] == 6
    assert contained["startback-distress"]["code"]["coding"][0]["code"] == "91350-9"
    assert contained["startback-distress"]["valueInteger"] == 4
    risk = contained["startback-risk"]
    assert risk["code"]["coding"][0]["code"] == "91352-5"
    assert risk["valueCodeableConcept"]["coding"][0] == {"system": "http://loinc.org", "code": "LA9193-9"}
    assert "referral-psychologically-informed-pt" in activities(careplan)
    assert "total 6/9, distress subscale 4/5: high risk" in careplan["text"]["div"]


@pytest.mark.parametrize(
    "risk, answers, code",
    [
        ("low", startback_answers(agree=1), "LA9194-7"),
        ("medium", startback_answers(agree=4), "LA8982-6"),
    ],
)
def test_startback_risk_answer_codes(client, risk, answers, code):
    careplan = triage_http(client, **answers)
    obs = next(o for o in careplan["contained"] if o["id"] == "startback-risk")
    assert obs["valueCodeableConcept"]["coding"][0]["code"] == code


def test_the_clinician_narrative_uses_words_not_codes(client):
    careplan = triage_http(
        client,
        age=52,
        pain_duration="gt-12w",
        pain_radiation="below-knee",
        pain_intensity=7,
        height_cm=170.0,
        weight_kg=80.0,
        pregnant=True,
        leg_tingling=True,
        **startback_answers(agree=3, distress_agree=1),
    )
    div = careplan["text"]["div"]
    import xml.dom.minidom

    xml.dom.minidom.parseString(div)
    for words in (
        "7/10",
        "below my knee",
        "more than 12 weeks",
        "BMI",
        "27.7",
        "STarT Back",
        "NSAID withheld: pregnancy",
        "acetaminophen offered, ask a doctor or pharmacist first: pregnancy",
        "Do you have tingling (pins and needles) in your legs or feet? <i>yes</i>",
    ):
        assert words in div, words
    answer_codes = [c["code"] for c in answers_codesystem()["concept"]]
    for code in [*answer_codes, "leg-tingling", "pain-duration", "older-first-episode", "persistent-pain"]:
        assert not re.search(rf"(?<![\w-]){re.escape(code)}(?![\w-])", div), code


def test_an_emergency_careplan_holds_no_exercise_note(client):
    careplan = triage_http(client, sexual_dysfunction=True)
    assert list(activities(careplan)) == ["referral-emergency", "safety-net"]
    assert "note" not in careplan and "exercise" not in careplan["text"]["div"].lower()
    assert "note" in triage_http(client)  # a self-care plan keeps the directional caution


def test_a_doctor_soon_encounter_is_asap(client):
    careplan = triage_http(client, pain_at_rest=True)
    encounter = assert_fhir_response(client.get(f"/fhir/{careplan['encounter']['reference']}"), 200, "Encounter")
    assert encounter["priority"]["coding"][0]["code"] == "A"
    found = client.get("/fhir/CarePlan", params={"category": "doctor-soon", "subject": "Patient/p1"}).json()
    assert [e["resource"]["id"] for e in found["entry"]] == [careplan["id"]]


def test_every_rules_2_careplan_validates_with_the_schema_and_fhirclient(client):
    for answers in (
        dict(saddle_numbness=True),
        dict(pain_unbearable=True),
        dict(cancer_history=True),
        dict(injury=True, injury_major=False),
        dict(),
        startback_answers(agree=4),
    ):
        assert_valid_r4(triage_http(client, **answers))
