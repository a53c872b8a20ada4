"""Every emitted resource validates against HL7's R4 JSON Schema and parses with fhirclient."""

import pytest

from app.fhir.canonical import ANSWERS_CODESYSTEM_URL, CODESYSTEM_URL, PLANDEFINITION_URL, QUESTIONNAIRE_URL
from app.fhir.codesystem import codesystems
from app.fhir.outcome import Rejected, operation_outcome
from app.fhir.questionnaire import questionnaire
from app.rules.activities import ACTIVITY_RULES
from app.rules.findings import FINDING_RULES
from app.triage.scoring import careplan_for, score
from app.triage.validation import validate_response
from tests.support import answers_with, assert_valid_r4, items, response, schema_errors

RULES_VERSION = "1.0.0"  # these tests are rules 1's, against Questionnaire 1.0.0

DISPOSITION_EXAMPLES = {
    "emergency": dict(saddle_numbness=True),
    "urgent": dict(pain_new_or_worse=True, fever=True),
    "doctor": dict(pain_duration="gt-12w", sleep_problems=True, height_cm=180.0, weight_kg=95.5),
    "self-care": dict(position_sitting="worse", previous_pt=True, land_exercise_painful=True),
}


def test_the_schema_check_is_real():
    assert schema_errors({"resourceType": "CarePlan", "status": "active"})  # intent and subject missing
    assert schema_errors(
        {
            "resourceType": "CarePlan",
            "status": "active",
            "intent": "proposal",
            "subject": {"reference": "Patient/1"},
            "bogus": 1,
        }
    )


def test_questionnaire_is_valid_r4_and_matches_the_contract():
    q = questionnaire("1.0.0")
    assert_valid_r4(q)
    assert q["url"] == QUESTIONNAIRE_URL and q["version"]
    specs = items()
    assert len(specs) == 39
    assert specs["age"].type == "integer" and (specs["age"].min_value, specs["age"].max_value) == (0, 120)
    assert specs["leg-weakness-worsening"].enable_when == (("leg-weakness", True),)
    assert all(s.required for s in specs.values() if s.group == "warning-signs")
    assert not any(s.required for s in specs.values() if s.group in ("positions", "self-care"))
    assert {code for _, code in specs["pain-radiation"].options} == {"back-only", "buttock-thigh", "below-knee"}


def test_codesystems_are_valid_and_define_every_code_the_rules_use():
    systems = codesystems()
    for cs in systems.values():
        assert_valid_r4(cs)
    triage_cs = systems["lbp-triage"]
    assert triage_cs["url"] == CODESYSTEM_URL
    defined = {c["code"]: c for g in triage_cs["concept"] for c in g["concept"]}
    used = {r.code for r in FINDING_RULES} | {r.row for r in ACTIVITY_RULES} - {"directional-exercise"}
    used |= {
        "emergency",
        "urgent",
        "doctor",
        "self-care",
        "flexion-sensitive",
        "extension-sensitive",
        "no-preference",
        "directional-exercise-extension",
        "directional-exercise-flexion",
        "directional-exercise-neutral",
    }
    assert used <= set(defined)
    assert all(c["display"] and c["definition"] for c in defined.values())
    answer_codes = {c["code"] for c in systems["lbp-triage-answers"]["concept"]}
    for spec in items().values():
        for system, code in spec.options:
            assert system == ANSWERS_CODESYSTEM_URL and code in answer_codes


@pytest.mark.parametrize("disposition", DISPOSITION_EXAMPLES)
def test_careplan_for_each_disposition_is_valid_r4(disposition):
    qr = response(answers_with(**DISPOSITION_EXAMPLES[disposition]), id="qr-1")
    careplan = careplan_for(score(qr), careplan_id="cp-1")
    assert_valid_r4(careplan)
    assert careplan["status"] == "active" and careplan["intent"] == "proposal"
    assert careplan["category"][0]["coding"][0]["code"] == disposition
    assert careplan["subject"] == {"reference": "Patient/p1"}
    assert careplan["instantiatesCanonical"] == [f"{PLANDEFINITION_URL}|{RULES_VERSION}"]
    assert careplan["supportingInfo"] == [{"reference": "QuestionnaireResponse/qr-1"}]
    assert careplan["text"]["status"] == "generated"
    assert careplan["text"]["div"].startswith('<div xmlns="http://www.w3.org/1999/xhtml">')


def test_referral_activities_are_service_request_kind_with_priority():
    careplan = careplan_for(score(response(answers_with(bladder_bowel_control=True))))
    detail = careplan["activity"][0]["detail"]
    assert detail["kind"] == "ServiceRequest"
    assert detail["code"]["coding"][0]["code"] == "referral-emergency"
    assert detail["extension"][0]["valueCode"] == "stat"
    assert detail["reasonCode"][0]["text"] == "bladder-bowel-control: yes"


def test_narrative_shows_red_flags_with_the_answers_behind_them():
    careplan = careplan_for(score(response(answers_with(urination_difficulty=True, leg_numbness=True))))
    div = careplan["text"]["div"]
    assert "ces-urinary-neuro" in div and "Have you lost feeling in your legs or feet?" in div
    import xml.dom.minidom

    xml.dom.minidom.parseString(div)  # well-formed XHTML


def test_careplan_references_a_response_by_identifier_when_it_has_no_id():
    qr = response(identifier={"system": "urn:ehr", "value": "abc"})
    careplan = careplan_for(score(qr))
    assert careplan["supportingInfo"] == [
        {"type": "QuestionnaireResponse", "identifier": {"system": "urn:ehr", "value": "abc"}}
    ]
    assert_valid_r4(careplan)


def test_operation_outcomes_are_valid_r4():
    with pytest.raises(Rejected) as info:
        validate_response(response(answers_with(fever=None, age=300), status="in-progress"))
    assert_valid_r4(operation_outcome(info.value.faults))
