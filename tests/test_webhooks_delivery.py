"""Webhook delivery to a real HTTP receiver on loopback (allowlisted), on SQLite and PostgreSQL:
what is sent, to whom, signed how, and how failures, outages, redirects and 410 are handled."""

from __future__ import annotations

import time

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import event, func, select
from standardwebhooks.webhooks import WebhookVerificationError

from app.fhir.openapi import example_responses
from app.services import services
from app.store.tables import WebhookOutbox
from app.subscriptions.topics import RED_FLAG_DETECTED
from tests.support import assert_fhir_response, assert_valid_r4, post_triage
from tests.webhook_support import (
    Receiver,
    Reply,
    drained,
    secret,
    secret_of,
    start_dispatcher,
    subscribe,
    verify,
    wait_until,
)


@pytest.fixture
def receiver():
    running = Receiver()
    yield running
    running.stop()


@pytest.fixture
def dispatch(client, app):
    """Start a dispatcher (fast retry schedule); stopped at the end of the test."""
    started = []

    def start(**overrides):
        started.append(start_dispatcher(app, **overrides))
        return started[-1]

    yield start
    for running in started:
        running.stop()


def triage(client, disposition: str, patient: str) -> str:
    """Triage one of the Swagger examples for a patient; the CarePlan id."""
    body = {k: v for k, v in example_responses()[disposition].items() if k != "identifier"}
    body["subject"] = {"reference": f"Patient/{patient}"}
    careplan = assert_fhir_response(post_triage(client, body), 201, "CarePlan")
    assert careplan["category"][0]["coding"][0]["code"] == disposition
    return careplan["id"]


def focus_ids(requests) -> list[str]:
    return [r.focus.rsplit("/", 1)[1] for r in requests]


def status_of(client, subscription_id: str) -> str:
    return client.get(f"/fhir/Subscription/{subscription_id}").json()["status"]


def test_every_triage_produces_exactly_the_notifications_its_subscriptions_match(client, app, receiver, dispatch):
    secrets = {name: secret() for name in ("all", "red", "p2", "p1-emergency", "routine")}
    url = receiver.base_url
    subscribe(
        client,
        f"{url}/all",
        secret_value=secrets["all"],
        content="full-resource",
        headers=("Authorization: Bearer all-token",),
    )
    subscribe(client, f"{url}/red", secret_value=secrets["red"], topic=RED_FLAG_DETECTED)
    subscribe(client, f"{url}/p2", secret_value=secrets["p2"], filters=("CarePlan?patient=Patient/p2",))
    subscribe(
        client,
        f"{url}/p1-emergency",
        secret_value=secrets["p1-emergency"],
        topic=RED_FLAG_DETECTED,
        filters=("Encounter?patient=Patient/p1", "disposition=emergency"),
    )
    subscribe(client, f"{url}/routine", secret_value=secrets["routine"], filters=("disposition=doctor,self-care",))
    dispatch()

    triaged = [
        (d, p, triage(client, d, p)) for p in ("p1", "p2", "p3") for d in ("emergency", "urgent", "doctor", "self-care")
    ]
    expected = {
        "all": [c for _, _, c in triaged],
        "red": [c for d, _, c in triaged if d in ("emergency", "urgent")],
        "p2": [c for _, p, c in triaged if p == "p2"],
        "p1-emergency": [c for d, p, c in triaged if (d, p) == ("emergency", "p1")],
        "routine": [c for d, _, c in triaged if d in ("doctor", "self-care")],
    }
    receiver.wait_for(lambda r: all(len(r.events(f"/{name}")) >= len(ids) for name, ids in expected.items()))
    wait_until(lambda: drained(app))
    time.sleep(0.2)  # anything extra would show up now
    for name, ids in expected.items():
        requests = receiver.at(f"/{name}", accepted_only=False)
        assert [r.kind for r in requests] == ["handshake"] + ["event-notification"] * len(ids), name
        events = requests[1:]
        assert focus_ids(events) == ids, name  # exactly these, once each, in triage order
        assert [r.event_number for r in events] == list(range(1, len(ids) + 1))
        for request in requests:
            verify(request, secrets[name])
            assert_valid_r4(request.bundle)
            assert request.bundle["type"] == "history"
            assert request.headers["content-type"] == "application/fhir+json"
    full = receiver.at("/all")[1]
    assert [e["resource"]["resourceType"] for e in full.bundle["entry"]] == ["Parameters", "CarePlan", "Encounter"]
    assert full.bundle["entry"][1]["resource"] == client.get(f"/fhir/CarePlan/{expected['all'][0]}").json()
    assert full.headers["authorization"] == "Bearer all-token"
    id_only = receiver.at("/red")[1]
    assert [("resource" in e) for e in id_only.bundle["entry"]] == [True, False, False]
    assert id_only.bundle["entry"][1]["fullUrl"].endswith(f"/CarePlan/{expected['red'][0]}")


def test_signatures_verify_with_standardwebhooks_and_webhook_ids_let_receivers_dedupe(client, receiver, dispatch):
    first_time = set()

    def fail_first_attempt(request, n):  # every notification fails once, then is accepted
        message_id = request.headers["webhook-id"]
        if message_id in first_time:
            return Reply(200)
        first_time.add(message_id)
        return Reply(500)

    receiver.behaviour = fail_first_attempt
    created = subscribe(client, f"{receiver.base_url}/hook")  # the server makes the secret
    generated = secret_of(created)
    dispatch()
    careplans = [triage(client, "self-care", "p1") for _ in range(3)]
    receiver.wait_for(lambda r: len(r.events("/hook")) == 3)

    every = receiver.at("/hook", accepted_only=False)
    ids = [r.headers["webhook-id"] for r in every]
    assert len(ids) == 8 and len(set(ids)) == 4  # handshake + 3 events, each sent twice with one id
    for request in every:
        assert verify(request, generated)["resourceType"] == "Bundle"
        assert request.headers["webhook-signature"].startswith("v1,")
        assert abs(int(request.headers["webhook-timestamp"]) - time.time()) < 60
    assert focus_ids(receiver.events("/hook")) == careplans
    tampered = every[1]
    with pytest.raises(WebhookVerificationError):
        verify(
            type(tampered)(tampered.path, tampered.headers, tampered.body.replace(b"history", b"HISTORY")), generated
        )
    with pytest.raises(WebhookVerificationError):
        verify(tampered, secret())


def _sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_a_receiver_failing_half_its_requests_gets_every_event_in_order(client, receiver, dispatch):
    receiver.behaviour = lambda request, n: Reply(503 if n % 2 == 0 else 202)
    before_failures = _sample("lbp_webhook_delivery_failures_total", reason="http_5xx")
    before_retries = _sample("lbp_webhook_retries_total")
    before_deliveries = _sample("lbp_webhook_deliveries_total", type="event-notification")
    created = subscribe(client, f"{receiver.base_url}/flaky")
    dispatch()
    careplans = [triage(client, d, "p1") for d in ("urgent", "doctor", "self-care", "emergency") * 5]
    receiver.wait_for(lambda r: len(r.events("/flaky")) == 20)
    events = receiver.events("/flaky")
    assert focus_ids(events) == careplans
    assert [r.event_number for r in events] == list(range(1, 21))
    assert _sample("lbp_webhook_delivery_failures_total", reason="http_5xx") - before_failures >= 10
    assert _sample("lbp_webhook_retries_total") - before_retries >= 10
    wait_until(lambda: _sample("lbp_webhook_deliveries_total", type="event-notification") - before_deliveries == 20)

    # the metric counts when the receiver answered; the log row is written just after: wait for it
    def delivered_log():
        return client.get(f"/fhir/Subscription/{created['id']}/$deliveries", params={"state": "delivered"}).json()

    wait_until(lambda: len(delivered_log()["parameter"]) == 21)
    log = delivered_log()
    retried = [p for p in log["parameter"] if {"name": "attempts", "valueInteger": 2} in p["part"]]
    assert len(retried) >= 10


def test_a_receiver_down_for_a_while_gets_every_event_in_order_once_back(client, app, receiver, dispatch):
    created = subscribe(client, f"{receiver.base_url}/down")
    dispatch()
    receiver.wait_for(lambda r: len(r.at("/down")) == 1)  # the handshake
    wait_until(lambda: status_of(client, created["id"]) == "active")
    receiver.stop()
    careplans = [triage(client, "urgent", f"p{i}") for i in range(8)]
    wait_until(lambda: status_of(client, created["id"]) == "error")
    status = client.get(f"/fhir/Subscription/{created['id']}/$status").json()["entry"][0]["resource"]
    assert {"name": "status", "valueCode": "error"} in status["parameter"]
    assert any(p["name"] == "error" for p in status["parameter"])
    time.sleep(0.4)  # several failed attempts at the head of the queue
    receiver.start()
    receiver.wait_for(lambda r: len(r.events("/down")) == 8)
    assert focus_ids(receiver.events("/down")) == careplans
    assert [r.event_number for r in receiver.events("/down")] == list(range(1, 9))
    wait_until(lambda: status_of(client, created["id"]) == "active")


def test_the_handshake_turns_a_subscription_active_or_error(client, receiver, dispatch):
    receiver.stop()  # nobody answers the handshake at first
    created = subscribe(client, f"{receiver.base_url}/hello")
    assert created["status"] == "requested"
    dispatch()
    wait_until(lambda: status_of(client, created["id"]) == "error")
    assert "Delivery failing" in client.get(f"/fhir/Subscription/{created['id']}").json()["error"]
    receiver.start()  # the handshake is retried like any notification
    wait_until(lambda: status_of(client, created["id"]) == "active")
    handshake = receiver.at("/hello")[0]
    assert handshake.kind == "handshake" and handshake.event_number is None
    assert len(handshake.bundle["entry"]) == 1 and handshake.parameter("events-since-subscription-start")


def test_retry_after_is_honoured(client, receiver, dispatch):
    receiver.behaviour = lambda request, n: Reply(429, (("Retry-After", "1"),)) if n == 2 else Reply(204)
    subscribe(client, f"{receiver.base_url}/slow-down")
    dispatch()
    triage(client, "doctor", "p1")
    receiver.wait_for(lambda r: len(r.events("/slow-down")) == 1)
    attempts = [r for r in receiver.at("/slow-down", accepted_only=False) if r.kind == "event-notification"]
    assert [r.status for r in attempts] == [429, 204]
    assert attempts[1].at - attempts[0].at >= 0.95  # not after the 0.05 s the schedule says


def test_410_gone_turns_the_subscription_off(client, app, receiver, dispatch):
    receiver.behaviour = lambda request, n: Reply(410) if n == 3 else Reply(204)
    created = subscribe(client, f"{receiver.base_url}/gone")
    dispatch()
    triage(client, "urgent", "p1")
    triage(client, "urgent", "p1")
    wait_until(lambda: status_of(client, created["id"]) == "off")
    triage(client, "urgent", "p1")
    time.sleep(0.3)
    assert [r.status for r in receiver.at("/gone", accepted_only=False)] == [204, 204, 410]
    assert client.get(f"/fhir/Subscription/{created['id']}").json()["error"].startswith("The receiver answered 410")
    dead = client.get(f"/fhir/Subscription/{created['id']}/$deliveries", params={"state": "dead"}).json()
    assert len(dead["parameter"]) >= 1
    assert_fhir_response(client.post(f"/fhir/Subscription/{created['id']}/$resend"), 409, "OperationOutcome")


def test_redirects_are_not_followed_and_dead_notifications_can_be_resent(client, receiver, dispatch):
    elsewhere = f"{receiver.base_url}/elsewhere"
    receiver.behaviour = lambda request, n: (
        Reply(307, (("Location", elsewhere),)) if request.path == "/moved" else Reply(204)
    )
    created = subscribe(client, f"{receiver.base_url}/moved")
    dispatch(webhook_retry_schedule="0.05,0.05")  # three attempts, then dead
    careplan = triage(client, "emergency", "p1")
    log_url = f"/fhir/Subscription/{created['id']}/$deliveries"

    def dead_ones():
        return client.get(log_url, params={"state": "dead"}).json().get("parameter", [])

    wait_until(lambda: len(dead_ones()) == 2)  # the handshake and the event
    assert receiver.at("/elsewhere", accepted_only=False) == []
    assert {r.status for r in receiver.at("/moved", accepted_only=False)} == {307}
    parts = {p["name"]: next(v for k, v in p.items() if k.startswith("value")) for p in dead_ones()[0]["part"]}
    assert parts["http-status"] == 307 and "redirect" in parts["error"] and parts["attempts"] == 3
    assert_valid_r4(client.get(log_url).json())

    receiver.behaviour = lambda request, n: Reply(204)  # the receiver is fixed
    resent = client.post(f"/fhir/Subscription/{created['id']}/$resend")
    assert resent.json()["parameter"][0]["valueInteger"] == 2
    receiver.wait_for(lambda r: len(r.events("/moved")) == 1)
    assert focus_ids(receiver.events("/moved")) == [careplan]
    assert receiver.at("/moved")[0].kind == "handshake"  # resent in their original order
    wait_until(lambda: status_of(client, created["id"]) == "active")


def test_a_rolled_back_triage_sends_nothing(client, app, receiver, dispatch):
    subscribe(client, f"{receiver.base_url}/tx")
    dispatch()
    receiver.wait_for(lambda r: len(r.at("/tx")) == 1)

    wrote_outbox = set()  # connections whose transaction wrote outbox rows: a triage with a subscriber

    def note_outbox(connection, cursor, statement, *args):
        if statement.lstrip().upper().startswith("INSERT INTO WEBHOOK_OUTBOX"):
            wrote_outbox.add(connection)

    def refuse_commit(connection):
        if connection in wrote_outbox:
            wrote_outbox.discard(connection)
            raise RuntimeError("the database refuses to commit")

    event.listen(services(app).engine, "before_cursor_execute", note_outbox)
    event.listen(services(app).engine, "commit", refuse_commit)
    try:
        body = {k: v for k, v in example_responses()["urgent"].items() if k != "identifier"}
        with pytest.raises(RuntimeError):
            post_triage(client, body)  # the test client re-raises what became a 500
    finally:
        event.remove(services(app).engine, "commit", refuse_commit)
        event.remove(services(app).engine, "before_cursor_execute", note_outbox)
    assert client.get("/fhir/Encounter").json()["total"] == 0
    kept = triage(client, "self-care", "p1")
    receiver.wait_for(lambda r: len(r.events("/tx")) == 1)
    wait_until(lambda: drained(app))
    time.sleep(0.2)
    assert focus_ids(receiver.events("/tx")) == [kept]
    with services(app).engine.connect() as conn:
        rows = conn.execute(
            select(func.count()).select_from(WebhookOutbox).where(WebhookOutbox.kind == "event-notification")
        ).scalar_one()
    assert rows == 1


def test_a_receiver_that_does_not_answer_in_time_is_retried(client, receiver, dispatch):
    receiver.behaviour = lambda request, n: Reply(204, delay=1.0 if n == 2 else 0.0)
    subscribe(client, f"{receiver.base_url}/stall")
    dispatch(webhook_timeout_seconds=0.3)
    careplan = triage(client, "doctor", "p1")
    receiver.wait_for(lambda r: len(r.at("/stall", accepted_only=False)) >= 3)
    assert focus_ids(receiver.events("/stall")) == [careplan]
    assert _sample("lbp_webhook_delivery_failures_total", reason="timeout") >= 1


def test_deleting_a_subscription_stops_its_deliveries(client, app, receiver, dispatch):
    created = subscribe(client, f"{receiver.base_url}/deleted")
    kept = subscribe(client, f"{receiver.base_url}/kept")
    triage(client, "urgent", "p1")
    assert client.delete(f"/fhir/Subscription/{created['id']}").status_code == 204
    triage(client, "urgent", "p1")
    dispatch()
    receiver.wait_for(lambda r: len(r.events("/kept")) == 2)
    wait_until(lambda: drained(app))
    assert receiver.at("/deleted", accepted_only=False) == []
    with services(app).engine.connect() as conn:
        left = conn.execute(
            select(func.count()).select_from(WebhookOutbox).where(WebhookOutbox.subscription_id == created["id"])
        ).scalar_one()
    assert left == 0 and kept["id"] != created["id"]
