"""A QuestionnaireResponse's lifecycle by identifier, over HTTP on SQLite and PostgreSQL:
replayed, amended (re-triaged: the new CarePlan replaces the revoked one), refused with 409
when it conflicts, and every version served by `_history`."""

from __future__ import annotations

import threading

import httpx
import pytest

from tests.support import (
    TRIAGE,
    answers_with,
    assert_fhir_response,
    assert_valid_r4,
    post_triage,
    response,
    stored_encounters,
)
from tests.webhook_support import Receiver, drained, secret, start_dispatcher, subscribe, wait_until

IDENT = {"system": "urn:ehr", "value": "qr-1"}


def disposition(careplan):
    return careplan["category"][0]["coding"][0]["code"]


def ref_id(reference):
    return reference["reference"].split("/", 1)[1]


def self_care_then_amended_emergency(client):
    first = assert_fhir_response(post_triage(client, response(identifier=IDENT)), 201, "CarePlan")
    assert disposition(first) == "self-care"
    amended = response(answers_with(bladder_bowel_control=True), identifier=IDENT, status="amended")
    r = post_triage(client, amended)
    second = assert_fhir_response(r, 201, "CarePlan")
    return first, amended, r, second


def test_an_amended_response_with_a_red_flag_is_triaged_again(client, app):
    first, amended, r, second = self_care_then_amended_emergency(client)
    assert disposition(second) == "emergency"
    assert second["id"] != first["id"] and second["status"] == "active"
    assert r.headers["location"] == f"/fhir/CarePlan/{second['id']}" and r.headers["etag"] == 'W/"1"'
    assert second["replaces"] == [{"reference": f"CarePlan/{first['id']}"}]
    # the same Encounter and QuestionnaireResponse, in a new version
    assert second["encounter"] == first["encounter"] and second["supportingInfo"] == first["supportingInfo"]

    old = client.get(f"/fhir/CarePlan/{first['id']}")
    revoked = assert_fhir_response(old, 200, "CarePlan")
    assert revoked["status"] == "revoked" and revoked["meta"]["versionId"] == "2"
    assert old.headers["etag"] == 'W/"2"'
    assert revoked["meta"]["lastUpdated"] > first["meta"]["lastUpdated"]

    encounter_r = client.get(f"/fhir/{first['encounter']['reference']}")
    encounter = assert_fhir_response(encounter_r, 200, "Encounter")
    assert encounter["meta"]["versionId"] == "2" and encounter_r.headers["etag"] == 'W/"2"'
    assert encounter["priority"]["coding"][0]["code"] == "EM"
    qr_r = client.get(f"/fhir/{first['supportingInfo'][0]['reference']}")
    stored = assert_fhir_response(qr_r, 200, "QuestionnaireResponse")
    assert stored["meta"]["versionId"] == "2" and qr_r.headers["etag"] == 'W/"2"'
    assert stored["status"] == "amended"
    assert {k: v for k, v in stored.items() if k not in ("id", "meta")} == amended
    assert stored_encounters(app) == 1

    # the amended response again: the current plan, nothing new
    again = post_triage(client, amended)
    assert assert_fhir_response(again, 200, "CarePlan") == second
    # searches hold current versions only: the current plan, the Encounter and response in version 2
    plans = client.get("/fhir/CarePlan", params={"subject": "Patient/p1"}).json()
    assert [e["resource"]["id"] for e in plans["entry"]] == [second["id"]]
    for kind in ("Encounter", "QuestionnaireResponse"):
        found = client.get(f"/fhir/{kind}", params={"subject": "Patient/p1"}).json()
        assert [e["resource"]["meta"]["versionId"] for e in found["entry"]] == ["2"]


def test_the_first_answers_again_after_an_amendment_are_a_conflict(client):
    _first, _, _, second = self_care_then_amended_emergency(client)
    r = post_triage(client, response(identifier=IDENT))
    assert_fhir_response(r, 409, "OperationOutcome")
    assert client.get(f"/fhir/CarePlan/{second['id']}").json()["status"] == "active"


def test_different_answers_under_the_same_identifier_not_amended_are_409(client, app):
    first = assert_fhir_response(post_triage(client, response(identifier=IDENT)), 201, "CarePlan")
    changed = response(answers_with(bladder_bowel_control=True), identifier=IDENT)
    r = post_triage(client, changed)
    outcome = assert_fhir_response(r, 409, "OperationOutcome")
    assert "amended" in outcome["issue"][0]["diagnostics"]
    assert first["id"] not in r.text
    still = client.get(f"/fhir/CarePlan/{first['id']}").json()
    assert still["status"] == "active" and still["meta"]["versionId"] == "1"
    assert stored_encounters(app) == 1


def test_ignoring_id_and_meta_the_same_response_is_a_replay(client):
    first = assert_fhir_response(post_triage(client, response(identifier=IDENT)), 201, "CarePlan")
    same = response(identifier=IDENT, id="client-side-id", meta={"versionId": "7"})
    assert assert_fhir_response(post_triage(client, same), 200, "CarePlan") == first


@pytest.mark.parametrize("status", ["completed", "amended"])
def test_the_same_identifier_for_another_patient_is_409_naming_nothing_of_them(client, app, status):
    theirs = assert_fhir_response(post_triage(client, response(patient="p2", identifier=IDENT)), 201, "CarePlan")
    mine = response(answers_with(saddle_numbness=True), patient="p1", identifier=IDENT, status=status)
    for body in (mine, response(patient="p1", identifier=IDENT, status=status)):
        r = post_triage(client, body)
        assert_fhir_response(r, 409, "OperationOutcome")
        for secret_word in ("p2", theirs["id"], ref_id(theirs["encounter"]), "self-care", "Self-care"):
            assert secret_word not in r.text
    assert client.get(f"/fhir/CarePlan/{theirs['id']}").json()["meta"]["versionId"] == "1"
    assert stored_encounters(app) == 1


def test_the_body_is_validated_before_any_replay_or_if_none_exist_match(client, app):
    first = assert_fhir_response(post_triage(client, response(identifier=IDENT)), 201, "CarePlan")
    condition = {"If-None-Exist": "identifier=urn:ehr|qr-1"}
    assert_fhir_response(post_triage(client, {"status": "garbage"}, **condition), 400, "OperationOutcome")
    assert_fhir_response(post_triage(client, b"{not json", **condition), 400, "OperationOutcome")
    missing_flag = response(answers_with(bladder_bowel_control=None), identifier=IDENT)
    assert_fhir_response(post_triage(client, missing_flag), 422, "OperationOutcome")
    assert_fhir_response(post_triage(client, missing_flag, **condition), 422, "OperationOutcome")
    # the same response of the same patient: the earlier plan
    r = post_triage(client, response(identifier=IDENT), **condition)
    assert assert_fhir_response(r, 200, "CarePlan")["id"] == first["id"]
    assert stored_encounters(app) == 1


def test_if_none_exist_naming_another_patients_response_is_409(client, app):
    theirs = assert_fhir_response(post_triage(client, response(patient="p2", identifier=IDENT)), 201, "CarePlan")
    red_flag_for_c = response(answers_with(bladder_bowel_control=True), patient="c")
    r = post_triage(client, red_flag_for_c, **{"If-None-Exist": "identifier=urn:ehr|qr-1"})
    assert_fhir_response(r, 409, "OperationOutcome")
    for secret_word in ("p2", theirs["id"], "self-care", "Self-care"):
        assert secret_word not in r.text
    # a different response of the same patient under that condition is a conflict too
    other = response(answers_with(fever=True), patient="p2")
    assert_fhir_response(
        post_triage(client, other, **{"If-None-Exist": "identifier=urn:ehr|qr-1"}), 409, "OperationOutcome"
    )
    assert stored_encounters(app) == 1


def _history(client, path):
    r = client.get(path)
    bundle = assert_fhir_response(r, 200, "Bundle")
    assert bundle["type"] == "history"
    return bundle


def test_history_serves_every_version_newest_first(client):
    first, _amended, _, second = self_care_then_amended_emergency(client)
    base = "http://testserver/fhir"

    plan = _history(client, f"/fhir/CarePlan/{first['id']}/_history")
    assert plan["total"] == 2
    assert [e["resource"]["meta"]["versionId"] for e in plan["entry"]] == ["2", "1"]
    assert [e["resource"]["status"] for e in plan["entry"]] == ["revoked", "active"]
    assert all(e["fullUrl"] == f"{base}/CarePlan/{first['id']}" for e in plan["entry"])
    assert plan["entry"][0]["request"] == {"method": "PUT", "url": f"CarePlan/{first['id']}"}
    assert plan["entry"][0]["response"]["status"] == "200 OK"
    assert plan["entry"][0]["response"]["etag"] == 'W/"2"'
    assert plan["entry"][1]["request"] == {"method": "POST", "url": "CarePlan"}
    assert plan["entry"][1]["response"]["status"] == "201 Created"
    assert plan["entry"][1]["resource"] == first

    new_plan = _history(client, f"/fhir/CarePlan/{second['id']}/_history")
    assert [e["resource"] for e in new_plan["entry"]] == [second]

    for reference in (first["encounter"], first["supportingInfo"][0]):
        versions = _history(client, f"/fhir/{reference['reference']}/_history")
        assert [e["resource"]["meta"]["versionId"] for e in versions["entry"]] == ["2", "1"]
    qr_versions = _history(client, f"/fhir/{first['supportingInfo'][0]['reference']}/_history")
    assert [e["resource"]["status"] for e in qr_versions["entry"]] == ["amended", "completed"]

    v1 = client.get(f"/fhir/CarePlan/{first['id']}/_history/1")
    assert assert_fhir_response(v1, 200, "CarePlan") == first and v1.headers["etag"] == 'W/"1"'
    v2 = client.get(f"/fhir/CarePlan/{first['id']}/_history/2")
    assert assert_fhir_response(v2, 200, "CarePlan")["status"] == "revoked" and v2.headers["etag"] == 'W/"2"'
    enc1 = client.get(f"/fhir/{first['encounter']['reference']}/_history/1")
    assert assert_fhir_response(enc1, 200, "Encounter")["priority"]["coding"][0]["code"] == "R"
    for missing in (
        f"/fhir/CarePlan/{first['id']}/_history/3",
        f"/fhir/CarePlan/{first['id']}/_history/x",
        "/fhir/CarePlan/no-such-plan/_history",
        "/fhir/Encounter/no-such/_history/1",
    ):
        assert_fhir_response(client.get(missing), 404, "OperationOutcome")


def test_history_of_a_resource_never_amended_has_one_version(client):
    made = assert_fhir_response(post_triage(client, response()), 201, "CarePlan")
    for path in (f"CarePlan/{made['id']}", made["encounter"]["reference"], made["supportingInfo"][0]["reference"]):
        bundle = _history(client, f"/fhir/{path}/_history")
        assert bundle["total"] == 1 and bundle["entry"][0]["resource"]["meta"]["versionId"] == "1"
        assert_valid_r4(bundle)


def test_the_amended_plan_notifies_subscribers(client, app):
    from app.subscriptions.topics import RED_FLAG_DETECTED

    receiver = Receiver()
    dispatcher = None
    try:
        subscribe(client, f"{receiver.base_url}/all", secret_value=secret(), content="full-resource")
        subscribe(client, f"{receiver.base_url}/red", secret_value=secret(), topic=RED_FLAG_DETECTED)
        dispatcher = start_dispatcher(app)
        first, _, _, second = self_care_then_amended_emergency(client)
        receiver.wait_for(lambda r: len(r.events("/all")) == 2 and len(r.events("/red")) == 1)
        wait_until(lambda: drained(app))
        every = receiver.events("/all")
        assert [r.focus.rsplit("/", 1)[1] for r in every] == [first["id"], second["id"]]
        assert len({r.headers["webhook-id"] for r in every}) == 2
        assert every[1].bundle["entry"][1]["resource"] == second
        assert [r.focus.rsplit("/", 1)[1] for r in receiver.events("/red")] == [second["id"]]
    finally:
        if dispatcher is not None:
            dispatcher.stop()
        receiver.stop()


def test_a_notification_sent_after_its_plan_was_replaced_carries_that_plan_revoked(client, app):
    receiver = Receiver()
    dispatcher = None
    try:
        subscribe(client, f"{receiver.base_url}/all", secret_value=secret(), content="full-resource")
        first, _, _, second = self_care_then_amended_emergency(client)  # both queued before any delivery
        dispatcher = start_dispatcher(app)
        receiver.wait_for(lambda r: len(r.events("/all")) == 2)
        carried = [r.bundle["entry"][1]["resource"] for r in receiver.events("/all")]
        assert [(c["id"], c["status"]) for c in carried] == [(first["id"], "revoked"), (second["id"], "active")]
        assert carried[0] == client.get(f"/fhir/CarePlan/{first['id']}").json()
    finally:
        if dispatcher is not None:
            dispatcher.stop()
        receiver.stop()


def test_twenty_concurrent_amendments_leave_one_chain_of_versions(live_server, app):
    first = httpx.post(
        f"{live_server}{TRIAGE}", json=response(identifier=IDENT), headers={"Content-Type": "application/fhir+json"}
    ).json()
    answered: list[tuple[int, int, str]] = []  # (status, age sent, CarePlan id)
    barrier = threading.Barrier(20)

    def amend(age):
        body = response(answers_with(age=age), identifier=IDENT, status="amended")
        with httpx.Client(base_url=live_server, timeout=60) as http:
            barrier.wait()
            r = http.post(TRIAGE, json=body, headers={"Content-Type": "application/fhir+json"})
            answered.append((r.status_code, age, r.json().get("id")))

    threads = [threading.Thread(target=amend, args=(20 + i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(s for s, _, _ in answered) == [201] * 20

    with httpx.Client(base_url=live_server) as http:
        qr_id = ref_id(first["supportingInfo"][0])
        for path in (f"QuestionnaireResponse/{qr_id}", first["encounter"]["reference"]):
            versions = http.get(f"/fhir/{path}/_history").json()["entry"]
            assert [int(e["resource"]["meta"]["versionId"]) for e in versions] == list(range(21, 0, -1))
        current_qr = http.get(f"/fhir/QuestionnaireResponse/{qr_id}").json()
        current_age = next(i["answer"][0]["valueInteger"] for i in current_qr["item"] if i["linkId"] == "age")
        current_plans = http.get("/fhir/CarePlan", params={"subject": "Patient/p1"}).json()["entry"]
        assert len(current_plans) == 1
        current = current_plans[0]["resource"]
        assert current["status"] == "active"
        # the last committed amendment is current: its plan and its answers
        assert (201, current_age, current["id"]) in answered
        # walk the chain back: every earlier plan revoked, each replaced exactly once, none lost
        chain, plan = [], current
        while "replaces" in plan:
            chain.append(plan["id"])
            plan = http.get(f"/fhir/{plan['replaces'][0]['reference']}").json()
            assert plan["status"] == "revoked" and plan["meta"]["versionId"] == "2"
        chain.append(plan["id"])
        assert plan["id"] == first["id"]
        assert sorted(chain) == sorted([first["id"], *(cid for _, _, cid in answered)])
    assert stored_encounters(app) == 1


def test_a_stored_response_is_served_with_its_members_in_the_order_sent(client):
    """Stored as sent, to the order of its members: PostgreSQL's jsonb would have rewritten it
    (shorter keys first), so the response read back differed from the one submitted."""
    sent = response(identifier=IDENT)
    reordered = dict(reversed(list(sent.items())))  # "resourceType" last, "status" before "item"…
    reordered["item"] = [dict(reversed(list(item.items()))) for item in reordered["item"]]
    assert_fhir_response(post_triage(client, reordered), 201, "CarePlan")
    found = client.get("/fhir/QuestionnaireResponse", params={"patient": "p1"}).json()
    (served,) = [entry["resource"] for entry in found["entry"]]
    served_order = [key for key in served if key in reordered]
    assert served_order == list(reordered)
    assert [list(item) for item in served["item"]] == [list(item) for item in reordered["item"]]
