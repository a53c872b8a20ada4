"""Searches never widen silently: an unknown parameter, modifier or chain is a 400 unless the
client asks for lenient handling, and then it is left out of the self link. `_id` works on
every searchable type."""

from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest
from fhirpy import SyncFHIRClient

from tests.support import TRIAGE, answers_with, assert_fhir_response, post_triage, response
from tests.webhook_support import subscription_body

SEARCHABLE = [
    "CarePlan",
    "Encounter",
    "QuestionnaireResponse",
    "Questionnaire",
    "CodeSystem",
    "OperationDefinition",
    "Subscription",
    "AuditEvent",
]
LENIENT = {"Prefer": "handling=lenient"}
STRICT = {"Prefer": "handling=strict"}


def _self_params(bundle):
    url = next(link["url"] for link in bundle["link"] if link["relation"] == "self")
    return parse_qsl(urlsplit(url).query)


def _two_patients(client):
    mine = post_triage(client, response(patient="a")).json()
    theirs = post_triage(client, response(answers_with(saddle_numbness=True), patient="b")).json()
    return mine, theirs


def test_id_returns_only_that_careplan(client):
    mine, theirs = _two_patients(client)
    bundle = assert_fhir_response(client.get("/fhir/CarePlan", params={"_id": mine["id"]}), 200, "Bundle")
    assert bundle["total"] == 1 and [e["resource"]["id"] for e in bundle["entry"]] == [mine["id"]]
    assert ("_id", mine["id"]) in _self_params(bundle)
    both = client.get("/fhir/CarePlan", params={"_id": f"{mine['id']},{theirs['id']}"}).json()
    assert {e["resource"]["id"] for e in both["entry"]} == {mine["id"], theirs["id"]}
    assert client.get("/fhir/CarePlan", params={"_id": "no-such-plan"}).json()["total"] == 0
    # _id and subject together: both must hold
    assert client.get("/fhir/CarePlan", params={"_id": mine["id"], "subject": "Patient/b"}).json()["total"] == 0


def test_id_on_encounter_and_questionnaire_response(client):
    mine, _ = _two_patients(client)
    encounter_id = mine["encounter"]["reference"].split("/")[1]
    response_id = mine["supportingInfo"][0]["reference"].split("/")[1]
    for rtype, rid in (("Encounter", encounter_id), ("QuestionnaireResponse", response_id)):
        bundle = client.get(f"/fhir/{rtype}", params={"_id": rid}).json()
        assert [e["resource"]["id"] for e in bundle["entry"]] == [rid], rtype


@pytest.mark.parametrize("rtype", SEARCHABLE)
def test_id_is_supported_on_every_searchable_type(client, rtype):
    every = assert_fhir_response(
        client.get(
            f"/fhir/{rtype}",
            params={"_count": "5"} if rtype in ("CarePlan", "Encounter", "QuestionnaireResponse", "AuditEvent") else {},
        ),
        200,
        "Bundle",
    )
    got = assert_fhir_response(
        client.get(f"/fhir/{rtype}", params={"_id": "no-such-id"}, headers=STRICT), 200, "Bundle"
    )
    assert got["total"] == 0
    if every["entry"]:
        first = every["entry"][0]["resource"]["id"]
        one = client.get(f"/fhir/{rtype}", params={"_id": f"{first},no-such-id"}).json()
        assert [e["resource"]["id"] for e in one["entry"]] == [first]


def test_type_modifier_is_refused_by_default_and_ignored_when_lenient(client):
    _two_patients(client)
    for headers in ({}, STRICT):
        r = client.get("/fhir/CarePlan", params={"subject:Patient": "a"}, headers=headers)
        outcome = assert_fhir_response(r, 400, "OperationOutcome")
        assert "subject:Patient" in outcome["issue"][0]["diagnostics"]
    lenient = assert_fhir_response(
        client.get("/fhir/CarePlan", params={"subject:Patient": "a", "category": "self-care"}, headers=LENIENT),
        200,
        "Bundle",
    )
    assert _self_params(lenient) == [("category", "self-care")]  # what was applied, and only that
    assert lenient["total"] == 1


@pytest.mark.parametrize(
    "params",
    [
        {"colour": "red"},
        {"subject.name": "Smith"},
        {"patient:missing": "true"},
        {"_sort": "date"},
        {"_include": "CarePlan:subject"},
        {"_has:Encounter:subject:status": "finished"},
        {"date:above": "2026"},
        {"_id:not": "x"},
        {"_summary": "count"},
        {"_elements": "id"},
    ],
)
@pytest.mark.parametrize("rtype", ["CarePlan", "Encounter", "QuestionnaireResponse", "AuditEvent"])
def test_unknown_parameters_modifiers_and_chains_are_400(client, rtype, params):
    assert_fhir_response(client.get(f"/fhir/{rtype}", params=params), 400, "OperationOutcome")


@pytest.mark.parametrize("rtype", ["Questionnaire", "CodeSystem", "OperationDefinition", "Subscription"])
def test_strict_is_honoured_on_conformance_and_subscription_searches(client, rtype):
    for headers in ({}, STRICT):
        r = client.get(f"/fhir/{rtype}", params={"name": "lbp-triage"}, headers=headers)
        assert_fhir_response(r, 400, "OperationOutcome")
    lenient = assert_fhir_response(
        client.get(f"/fhir/{rtype}", params={"name": "lbp-triage"}, headers=LENIENT), 200, "Bundle"
    )
    assert _self_params(lenient) == []


def test_questionnaire_search_by_url_strict_and_lenient(client):
    url = response()["questionnaire"]
    bundle = client.get("/fhir/Questionnaire", params={"url": url, "title": "x"}, headers=LENIENT).json()
    assert bundle["total"] == 1 and _self_params(bundle) == [("url", url)]
    assert client.get("/fhir/Questionnaire", params={"url": url, "title": "x"}, headers=STRICT).status_code == 400


@pytest.mark.parametrize(
    "params",
    [
        [("_count", "2"), ("_count", "3")],
        [("_format", "json"), ("_format", "json")],
    ],
)
def test_repeated_result_parameters_are_400(client, params):
    assert_fhir_response(client.get("/fhir/CarePlan", params=params), 400, "OperationOutcome")


def test_result_parameters_keep_working(client):
    for _ in range(3):
        post_triage(client, response(patient="r"))
    first = client.get("/fhir/CarePlan", params={"_count": "2", "_format": "json", "_total": "accurate"}).json()
    assert first["total"] == 3 and len(first["entry"]) == 2
    following = next(link["url"] for link in first["link"] if link["relation"] == "next")
    second = client.get(following.replace("http://testserver", "")).json()
    assert len(second["entry"]) == 1


def test_fhirpy_get_by_id_finds_exactly_one(live_server):
    with httpx.Client(base_url=live_server) as http:
        made = [
            http.post(TRIAGE, json=response(patient=p), headers={"Content-Type": "application/fhir+json"}).json()
            for p in ("f1", "f2")
        ]
    client = SyncFHIRClient(f"{live_server}/fhir")
    plan = client.resources("CarePlan").search(_id=made[1]["id"]).get()
    assert plan.id == made[1]["id"] and plan["subject"]["reference"] == "Patient/f2"
    assert client.resources("CarePlan").search(subject="Patient/f1").count() == 1


def test_count_pages_the_searches_held_in_memory(client):
    first = assert_fhir_response(client.get("/fhir/CodeSystem", params={"_count": "1"}), 200, "Bundle")
    assert first["total"] == 2 and len(first["entry"]) == 1
    following = next(link["url"] for link in first["link"] if link["relation"] == "next")
    second = client.get(following.replace("http://testserver", "")).json()
    assert len(second["entry"]) == 1 and not [link for link in second["link"] if link["relation"] == "next"]
    assert second["entry"][0]["resource"]["id"] != first["entry"][0]["resource"]["id"]
    assert client.get("/fhir/CodeSystem", params={"_cursor": "bm9uc2Vuc2U"}).status_code == 400


def test_operations_refuse_parameters_they_do_not_take(client):
    created = client.post(
        "/fhir/Subscription",
        json=subscription_body("http://127.0.0.1:9/hook"),
        headers={"Content-Type": "application/fhir+json"},
    ).json()
    refused = [
        ("GET", "/fhir/Subscription/$status", {"ids": created["id"]}),
        ("GET", f"/fhir/Subscription/{created['id']}/$status", {"status": "active"}),
        ("GET", f"/fhir/Subscription/{created['id']}/$deliveries", {"state": "dead", "colour": "red"}),
        ("GET", f"/fhir/Subscription/{created['id']}/$deliveries", [("state", "dead"), ("state", "pending")]),
        ("POST", f"/fhir/Subscription/{created['id']}/$resend", {"all": "true"}),
    ]
    for method, path, params in refused:
        assert_fhir_response(client.request(method, path, params=params), 400, "OperationOutcome")
    assert post_triage(client, response()).status_code == 201
    r = client.post(
        TRIAGE, params={"mode": "dry-run"}, json=response(), headers={"Content-Type": "application/fhir+json"}
    )
    assert_fhir_response(r, 400, "OperationOutcome")
    assert client.get("/fhir/Subscription/$status", params={"id": created["id"], "_format": "json"}).status_code == 200
