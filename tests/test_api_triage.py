"""POST /fhir/QuestionnaireResponse/$triage through HTTP, on SQLite and PostgreSQL."""

import threading

import httpx

from tests.support import (
    TRIAGE,
    answers_with,
    assert_fhir_response,
    assert_valid_r4,
    post_triage,
    response,
    stored_encounters,
)


def test_triage_answers_201_with_the_careplan_and_stores_all_three_resources(client, app):
    r = post_triage(client, response(answers_with(pain_intolerable=True), nested=True))
    careplan = assert_fhir_response(r, 201, "CarePlan")
    assert r.headers["location"] == f"/fhir/CarePlan/{careplan['id']}"
    assert r.headers["etag"] == 'W/"1"' and careplan["meta"]["versionId"] == "1"
    assert careplan["category"][0]["coding"][0]["code"] == "urgent"
    assert stored_encounters(app) == 1

    encounter_ref = careplan["encounter"]["reference"]
    response_ref = careplan["supportingInfo"][0]["reference"]
    encounter = assert_fhir_response(client.get(f"/fhir/{encounter_ref}"), 200, "Encounter")
    assert encounter["subject"] == {"reference": "Patient/p1"} and encounter["status"] == "finished"
    assert encounter["priority"]["coding"][0]["code"] == "UR"
    stored_qr = assert_fhir_response(client.get(f"/fhir/{response_ref}"), 200, "QuestionnaireResponse")
    assert stored_qr["id"] == response_ref.split("/")[1] and stored_qr["item"][0]["linkId"] == "about"
    again = client.get(r.headers["location"])
    assert assert_fhir_response(again, 200, "CarePlan") == careplan
    assert again.headers["etag"] == 'W/"1"' and "last-modified" in again.headers


def test_each_disposition_example_from_swagger_works(client):
    from app.fhir.openapi import EXAMPLE_DISPOSITIONS, all_examples

    for name, body in all_examples().items():
        careplan = assert_fhir_response(post_triage(client, body), 201, "CarePlan")
        assert careplan["category"][0]["coding"][0]["code"] == EXAMPLE_DISPOSITIONS[name]
        version = "1.0.0" if name.startswith("v1-") else "2.0.0"
        assert careplan["instantiatesCanonical"][0].endswith(f"|{version}")


def test_parameters_wrapping_a_response(client):
    body = {"resourceType": "Parameters", "parameter": [{"name": "response", "resource": response()}]}
    assert_fhir_response(post_triage(client, body), 201, "CarePlan")
    bad = {"resourceType": "Parameters", "parameter": [{"name": "other", "valueString": "x"}]}
    assert_fhir_response(post_triage(client, bad), 400, "OperationOutcome")


def test_plain_application_json_is_accepted(client):
    r = client.post(TRIAGE, json=response(), headers={"Content-Type": "application/json; charset=utf-8"})
    assert_fhir_response(r, 201, "CarePlan")


def test_resubmission_by_identifier_returns_the_first_careplan(client, app):
    qr = response(identifier={"system": "urn:ehr", "value": "resp-1"})
    first = assert_fhir_response(post_triage(client, qr), 201, "CarePlan")
    second = post_triage(client, qr)
    assert assert_fhir_response(second, 200, "CarePlan") == first
    assert second.headers["location"] == f"/fhir/CarePlan/{first['id']}"
    assert stored_encounters(app) == 1
    other = response(identifier={"system": "urn:other", "value": "resp-1"})
    assert post_triage(client, other).status_code == 201  # same value, other system: another response
    assert stored_encounters(app) == 2


def test_if_none_exist_is_honoured(client, app):
    qr = response(identifier={"system": "urn:ehr", "value": "r-9"})
    first = assert_fhir_response(post_triage(client, qr), 201, "CarePlan")
    r = post_triage(client, qr, **{"If-None-Exist": "identifier=urn:ehr|r-9"})
    assert assert_fhir_response(r, 200, "CarePlan")["id"] == first["id"]
    fresh = response(answers_with(saddle_numbness=True))  # no identifier of its own
    # a match is only answered for the same response: other answers under that condition conflict
    r = post_triage(client, fresh, **{"If-None-Exist": "identifier=urn:ehr|r-9"})
    assert_fhir_response(r, 409, "OperationOutcome")
    r = post_triage(client, fresh, **{"If-None-Exist": "identifier=urn:ehr|nothing-like-it"})
    assert assert_fhir_response(r, 201, "CarePlan")["category"][0]["coding"][0]["code"] == "emergency"
    assert_fhir_response(post_triage(client, fresh, **{"If-None-Exist": "status=completed"}), 400, "OperationOutcome")
    assert stored_encounters(app) == 2


def test_if_none_exist_matching_several_is_412(client):
    for system in ("urn:a", "urn:b"):
        post_triage(client, response(identifier={"system": system, "value": "shared"}))
    r = post_triage(client, response(), **{"If-None-Exist": "identifier=shared"})
    assert_fhir_response(r, 412, "OperationOutcome")


def test_prefer_return_minimal_and_operation_outcome(client):
    r = post_triage(client, response(), Prefer="return=minimal")
    assert r.status_code == 201 and r.content == b"" and r.headers["location"].startswith("/fhir/CarePlan/")
    r = post_triage(client, response(), Prefer="return=OperationOutcome")
    outcome = assert_fhir_response(r, 201, "OperationOutcome")
    assert outcome["issue"][0]["severity"] == "information" and "self-care" in outcome["issue"][0]["diagnostics"]
    r = post_triage(client, response(), Prefer="return=representation")
    assert_fhir_response(r, 201, "CarePlan")


def test_rejected_responses_list_every_fault_and_store_nothing(client, app):
    bad = response(answers_with(fever=None, age=300), status="in-progress")
    r = post_triage(client, bad)
    outcome = assert_fhir_response(r, 422, "OperationOutcome")
    assert len(outcome["issue"]) == 3
    assert all(issue["expression"] and issue["diagnostics"] for issue in outcome["issue"])
    assert stored_encounters(app) == 0


def test_sequential_and_concurrent_double_submission_make_one_encounter(live_server, app):
    qr = response(identifier={"system": "urn:ehr", "value": "race"})
    statuses, ids = [], []
    barrier = threading.Barrier(8)

    def submit():
        with httpx.Client(base_url=live_server) as http:
            barrier.wait()
            r = http.post(TRIAGE, json=qr, headers={"Content-Type": "application/fhir+json"})
            statuses.append(r.status_code)
            ids.append(r.json()["id"])

    threads = [threading.Thread(target=submit) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(statuses) == [200] * 7 + [201]
    assert len(set(ids)) == 1
    assert stored_encounters(app) == 1


def test_every_stored_resource_is_valid_r4(client):
    careplan = post_triage(client, response(answers_with(leg_weakness=True, leg_weakness_worsening=True))).json()
    for ref in (careplan["encounter"]["reference"], careplan["supportingInfo"][0]["reference"]):
        assert_valid_r4(client.get(f"/fhir/{ref}").json())
