"""The structure checker (app/fhir/r4.py) against HL7's R4 JSON Schema itself: its table is
exactly what the schema gives, whatever the schema rejects it rejects, and what it accepts
the schema accepts."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings

from app.fhir.outcome import Rejected
from app.fhir.r4 import parse_json, structure_faults
from tests.fhir_mutations import duplicate_key_bodies, invalid_mutations, valid_responses
from tests.r4_structure import SCHEMA, TABLE, derive, render
from tests.support import response, schema_errors
from tests.webhook_support import subscription_body


def test_the_table_is_derived_from_the_r4_schema():
    assert TABLE.read_text() == render(derive(json.loads(SCHEMA.read_text()))), (
        "regenerate with: .venv/bin/python -m tests.r4_structure"
    )


@settings(max_examples=150)
@given(valid_responses())
def test_what_the_checker_accepts_the_schema_accepts(qr):
    assert structure_faults(qr) == []
    assert schema_errors(qr) == []


@settings(max_examples=200)
@given(invalid_mutations())
def test_whatever_the_schema_rejects_the_checker_rejects(mutation):
    qr, kind = mutation
    if schema_errors(qr):
        assert structure_faults(qr), kind
    if not structure_faults(qr):  # and the converse: nothing slips through in either direction
        assert schema_errors(qr) == [], kind


@settings(max_examples=100)
@given(duplicate_key_bodies())
def test_a_duplicate_key_anywhere_is_refused(body):
    with pytest.raises(Rejected) as refused:
        parse_json(body)
    assert refused.value.status == 400 and "duplicate" in refused.value.faults[0].diagnostics


@pytest.mark.parametrize(
    "body",
    [
        # a colon spelled as an escape must not hide the duplicate from the colon count
        b'{"resourceType":"QuestionnaireResponse","status":"completed","status":"amended","text":"a\\u003ab"}',
        b'{"a":{"b":1,"b":2},"c":"\\u00e9"}',
        b'{"a":1,"a":1}',
        b'{"a": "x:y", "a" : "z"}',
    ],
)
def test_duplicate_keys_are_found_whatever_the_escapes(body):
    with pytest.raises(Rejected):
        parse_json(body)


@pytest.mark.parametrize(
    "body",
    [
        b'{"a":"x:y","b":"\\u003a","c":{"a":":"}}',
        b'{"a":"C:\\\\users"}',
        b'[{"a":1},{"a":1}]',
    ],
)
def test_the_same_key_in_different_objects_is_no_duplicate(body):
    assert parse_json(body)


def test_json_the_standard_library_cannot_read_is_refused_not_a_500():
    with pytest.raises(Rejected):
        parse_json(b'{"a":"\\u00e9","b":' + b"1" * 5000 + b"}")


@pytest.mark.parametrize(
    "value, accepted",
    [
        (4, True),
        (0, True),
        (-(2**31), True),
        (2**31, False),
        (4.0, False),
        ("4", False),
        (True, False),
    ],
)
def test_integers_are_json_whole_numbers_in_range(value, accepted):
    qr = response()
    qr["item"][0]["answer"] = [{"valueInteger": value}]
    assert (structure_faults(qr) == []) is accepted


@pytest.mark.parametrize(
    "authored", ["2026", "2026-11", "2026-11-20", "2026-11-20T10:00:00+14:00", "2026-11-20T10:00:00.123456789Z"]
)
def test_every_r4_datetime_precision_is_accepted(authored):
    assert structure_faults(response(authored=authored)) == []


@pytest.mark.parametrize(
    "authored",
    [
        "2026-11-20T10:00Z",
        "2026-11-20T10:00:00",
        "2026-11-20T10:00:00+15:00",
        "0000-01-01",
        "2026-11-20 10:00:00Z",
        "2026-11-20T10:00:00Z\n",
    ],
)
def test_datetimes_the_schema_refuses_are_refused(authored):
    qr = response(authored=authored)
    assert schema_errors(qr) or authored.endswith("\n")
    assert [f.expression for f in structure_faults(qr)] == ["QuestionnaireResponse.authored"]


def test_contained_resources_and_parameters_are_checked_as_their_own_type():
    qr = response(contained=[{"resourceType": "Patient", "id": "p", "birthDate": 1980}])
    assert [f.expression for f in structure_faults(qr)] == ["QuestionnaireResponse.contained[0].birthDate"]
    qr = response(contained=[{"resourceType": "NotAResource"}])
    assert [f.expression for f in structure_faults(qr)] == ["QuestionnaireResponse.contained[0]"]
    parameters = {
        "resourceType": "Parameters",
        "parameter": [{"name": "response", "resource": response()}, {"name": "x", "valueDate": "2026-11-20T10:00:00Z"}],
    }
    assert [f.expression for f in structure_faults(parameters)] == ["Parameters.parameter[1].valueDate"]


def test_a_valid_subscription_passes_and_its_schema_rules_hold():
    body = subscription_body("https://receiver.example.org/hook")
    assert structure_faults(body) == [] and schema_errors(body) == []
    del body["channel"]
    assert [f.expression for f in structure_faults(body)] == ["Subscription.channel"]


def test_nesting_past_the_limit_is_one_fault():
    qr = response()
    node = qr["item"][0]
    for _ in range(40):
        node["item"] = [{"linkId": "x"}]
        node = node["item"][0]
    faults = structure_faults(qr, max_depth=64)
    assert len(faults) == 1 and "nested" in faults[0].diagnostics


@pytest.mark.parametrize("where", ["spread", "one object"])
def test_faults_are_capped(where):
    qr = response()
    if where == "spread":
        for item in qr["item"]:
            item["answer"] = [{"valueBoolean": "no"}] * 5
    else:
        qr["item"][-1].update({f"unknown{i}": i for i in range(200)})  # the last object walked
    faults = structure_faults(qr)
    assert len(faults) == 51 and faults[-1].code == "too-costly"
