"""questionnaire.md, "Rules for accepting a response": each rule with the bad input it rejects.

Every rejection lists every fault (not just the first), each with a FHIRPath expression
and a sentence, and never echoes the submitted values.
"""

import copy

import pytest

from app.fhir.canonical import QUESTIONNAIRE_URL
from app.fhir.outcome import Rejected, operation_outcome
from app.triage.validation import validate_response
from tests.support import answers_with, assert_valid_r4, response


def rejected(qr):
    with pytest.raises(Rejected) as info:
        validate_response(qr)
    outcome = operation_outcome(info.value.faults)
    assert_valid_r4(outcome)
    return info.value


def expressions(exc):
    return [f.expression for f in exc.faults]


def test_a_complete_response_is_accepted_flat_and_nested():
    for nested in (False, True):
        validated = validate_response(response(nested=nested))
        assert validated.answers["age"] == 40 and validated.patient_id == "p1"


@pytest.mark.parametrize("status", ["in-progress", "stopped", "entered-in-error"])
def test_rule_status_must_be_completed_or_amended(status):
    exc = rejected(response(status=status))
    assert exc.status == 422 and expressions(exc) == ["QuestionnaireResponse.status"]
    validate_response(response(status="amended"))


def test_rule_questionnaire_must_name_this_questionnaire():
    exc = rejected(response(questionnaire="https://example.org/Questionnaire/other"))
    assert expressions(exc) == ["QuestionnaireResponse.questionnaire"]
    qr = response()
    del qr["questionnaire"]
    assert expressions(rejected(qr)) == ["QuestionnaireResponse.questionnaire"]
    validate_response(response(questionnaire=QUESTIONNAIRE_URL + "|1.0.0"))
    rejected(response(questionnaire=QUESTIONNAIRE_URL + "|9.9.9"))


@pytest.mark.parametrize("subject", [None, {"reference": "Group/g1"}, {"display": "someone"}])
def test_rule_subject_must_reference_a_patient(subject):
    qr = response()
    if subject is None:
        del qr["subject"]
    else:
        qr["subject"] = subject
    assert expressions(rejected(qr)) == ["QuestionnaireResponse.subject"]


def test_rule_subject_may_be_absolute_or_logical():
    assert validate_response(response(subject={"reference": "https://ehr.example/fhir/Patient/42"})).patient_id == "42"
    logical = {"type": "Patient", "identifier": {"system": "urn:mrn", "value": "123"}}
    assert validate_response(response(subject=logical)).patient_id is None


def test_rule_unknown_link_id():
    qr = response()
    qr["item"].append({"linkId": "favourite-colour", "answer": [{"valueBoolean": True}]})
    exc = rejected(qr)
    assert expressions(exc) == [f"QuestionnaireResponse.item[{len(qr['item']) - 1}].linkId"]


def test_rule_repeated_link_id():
    qr = response()
    qr["item"].append(copy.deepcopy(qr["item"][0]))
    exc = rejected(qr)
    assert "more than once" in exc.faults[0].diagnostics


def test_rule_wrong_answer_type():
    qr = response()
    qr["item"][0] = {"linkId": "age", "answer": [{"valueDecimal": 40.5}]}
    exc = rejected(qr)
    assert expressions(exc) == ["QuestionnaireResponse.item[0].answer[0]"]
    assert "whole number" in exc.faults[0].diagnostics


def test_rule_boolean_must_be_a_json_boolean():
    qr = response()
    idx = next(i for i, it in enumerate(qr["item"]) if it["linkId"] == "fever")
    qr["item"][idx]["answer"] = [{"valueInteger": 1}]
    assert expressions(rejected(qr)) == [f"QuestionnaireResponse.item[{idx}].answer[0]"]


def test_rule_code_not_listed():
    qr = response(answers_with(pain_duration="two-days"))
    exc = rejected(qr)
    assert "lt-6w" in exc.faults[0].diagnostics and exc.faults[0].code == "code-invalid"
    qr = response()
    idx = next(i for i, it in enumerate(qr["item"]) if it["linkId"] == "pain-duration")
    qr["item"][idx]["answer"][0]["valueCoding"]["system"] = "http://example.org/other"
    rejected(qr)


@pytest.mark.parametrize(
    "link_id, value",
    [
        ("age", 121),
        ("age", -1),
        ("pain-intensity", 11),
        ("height-cm", 49.9),
        ("weight-kg", 351.0),
    ],
)
def test_rule_value_out_of_range(link_id, value):
    exc = rejected(response(answers_with(**{link_id.replace("-", "_"): value})))
    assert exc.faults[0].code == "value" and "between" in exc.faults[0].diagnostics
    assert str(value) not in exc.faults[0].diagnostics  # the value itself is never echoed


def test_rule_answer_to_a_disabled_item():
    answers = answers_with(leg_weakness_worsening=True)  # leg-weakness is false
    exc = rejected(response(answers))
    assert exc.faults[0].code == "business-rule" and "leg-weakness-worsening" in exc.faults[0].diagnostics


def test_rule_enabled_item_becomes_required():
    answers = answers_with(leg_weakness=True)
    del answers["leg-weakness-worsening"]
    exc = rejected(response(answers))
    assert [f.code for f in exc.faults] == ["required"]
    assert "leg-weakness-worsening" in exc.faults[0].expression


@pytest.mark.parametrize("sign", ["bladder-bowel-control", "saddle-numbness", "fever", "steroid-use"])
def test_rule_missing_warning_sign_is_an_error_never_a_no(sign):
    exc = rejected(response(answers_with(**{sign.replace("-", "_"): None})))
    assert exc.faults[0].code == "required"
    assert exc.faults[0].expression == f"QuestionnaireResponse.repeat(item).where(linkId='{sign}')"
    assert "never taken as a no" in exc.faults[0].diagnostics


def test_rule_item_present_without_answer_counts_as_missing():
    qr = response()
    idx = next(i for i, it in enumerate(qr["item"]) if it["linkId"] == "fever")
    del qr["item"][idx]["answer"]
    exc = rejected(qr)
    assert exc.faults[0].expression == f"QuestionnaireResponse.item[{idx}]"


def test_rule_optional_items_may_be_absent():
    validated = validate_response(response(answers_with()))
    assert "position-sitting" not in validated.answers


def test_rule_item_in_the_wrong_group():
    qr = response(nested=True)
    about = next(g for g in qr["item"] if g["linkId"] == "about")
    pain = next(g for g in qr["item"] if g["linkId"] == "pain")
    about["item"].append(pain["item"].pop())
    assert "belongs in the group" in rejected(qr).faults[0].diagnostics


def test_rule_more_than_one_answer():
    qr = response()
    qr["item"][0]["answer"].append({"valueInteger": 41})
    assert expressions(rejected(qr)) == ["QuestionnaireResponse.item[0].answer"]


def test_every_fault_is_listed_not_just_the_first():
    answers = answers_with(fever=None, age=200, pain_duration="nope")
    qr = response(answers, status="in-progress")
    exc = rejected(qr)
    codes = sorted(f.code for f in exc.faults)
    assert codes == ["business-rule", "code-invalid", "required", "value"]
    assert all(f.expression for f in exc.faults) and all(f.diagnostics for f in exc.faults)


def test_not_fhir_is_a_400_with_the_path():
    qr = response()
    qr["item"][0]["answer"][0] = {"valueBoolean": True, "valueString": "x"}
    exc = rejected(qr)
    assert exc.status == 400
    qr = response()
    qr["authored"] = "yesterday"
    exc = rejected(qr)
    assert exc.status == 400 and any("authored" in (e or "") for e in expressions(exc))


@pytest.mark.parametrize("body", [[], "text", 3, {"resourceType": "Patient"}])
def test_not_a_questionnaire_response_is_a_400(body):
    assert rejected(body).status == 400


def test_r4b_features_beyond_the_fast_path_are_accepted():
    qr = response(
        meta={"lastUpdated": "2026-11-20T10:00:00Z"}, extension=[{"url": "http://example.org/x", "valueString": "y"}]
    )
    assert validate_response(qr).answers["age"] == 40


def test_faults_never_echo_patient_text():
    qr = response()
    qr["item"].append({"linkId": "Jane Doe, DOB 1970-01-01", "answer": [{"valueBoolean": True}]})
    exc = rejected(qr)
    assert "Jane" not in str(operation_outcome(exc.faults))
