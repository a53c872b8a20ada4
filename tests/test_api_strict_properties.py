"""Properties over HTTP, on both engines: whatever the service accepts, HL7's R4 JSON Schema
accepts as stored; whatever the schema rejects (and any duplicate key) is a 400 that stores
nothing."""

from __future__ import annotations

import uuid

from hypothesis import HealthCheck, assume, given, settings

from tests.fhir_mutations import duplicate_key_bodies, invalid_mutations, valid_responses
from tests.support import post_triage, schema_errors, stored_encounters

HTTP_EXAMPLES = settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _parameters(qr: dict) -> dict:
    return {"resourceType": "Parameters", "parameter": [{"name": "response", "resource": qr}]}


@HTTP_EXAMPLES
@given(valid_responses())
def test_whatever_is_accepted_is_stored_valid_against_the_r4_schema(client, qr):
    if "identifier" in qr:
        qr["identifier"]["value"] = str(uuid.uuid4())  # a new response each time, never a replay
    r = post_triage(client, qr)
    assert r.status_code == 201, r.text[:300]  # every generated response is valid FHIR and valid here
    stored = client.get(f"/fhir/{r.json()['supportingInfo'][0]['reference']}").json()
    assert schema_errors(stored) == []
    assert {k: v for k, v in stored.items() if k not in ("id", "meta")} == {
        k: v for k, v in qr.items() if k not in ("id", "meta")
    }


@HTTP_EXAMPLES
@given(invalid_mutations(), valid_responses())
def test_a_schema_invalid_response_is_400_and_stores_nothing(client, app, mutation, wrapper_choice):
    qr, kind = mutation
    assume(schema_errors(qr))
    before = stored_encounters(app)
    body = _parameters(qr) if len(wrapper_choice["item"]) % 2 else qr  # sometimes inside Parameters
    r = post_triage(client, body)
    assert r.status_code == 400, (kind, r.text[:300])
    assert r.json()["resourceType"] == "OperationOutcome"
    assert stored_encounters(app) == before


@HTTP_EXAMPLES
@given(duplicate_key_bodies())
def test_a_body_with_a_duplicate_key_is_400_and_stores_nothing(client, app, body):
    before = stored_encounters(app)
    r = post_triage(client, body)
    assert r.status_code == 400, r.text[:300]
    assert stored_encounters(app) == before
