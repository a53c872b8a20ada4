"""Subscriptions carry their creator's authority, and their secrets stay secret (hardening,
findings 1 and 2): what a token may read bounds what its subscriptions deliver, at creation
and again at delivery; channel headers and URL secrets are never shown after creation nor
logged. Both engines."""

from __future__ import annotations

import json
import logging
import time

import pytest
from sqlalchemy import update

from app.services import services
from app.store.tables import WebhookSubscription
from tests.support import assert_fhir_response, post_triage, response
from tests.test_security import STATIC_TOKENS, app_client, bearer
from tests.webhook_support import Receiver, drained, start_dispatcher, subscription_body, wait_until

FHIR = {"Content-Type": "application/fhir+json"}


@pytest.fixture
def receiver():
    running = Receiver()
    yield running
    running.stop()


@pytest.fixture
def static(app, database_url):
    from tests.conftest import _empty_tables

    _empty_tables(app)
    with app_client(database_url, auth_mode="static", auth_tokens=json.dumps(STATIC_TOKENS)) as client:
        yield client


def subscribe(client, token, endpoint, **options):
    r = client.post(
        "/fhir/Subscription", json=subscription_body(endpoint, **options), headers={**FHIR, **bearer(token)}
    )
    return assert_fhir_response(r, 201, "Subscription")


def triage_for(client, patient):
    return assert_fhir_response(post_triage(client, response(patient=patient), **bearer("tok-all")), 201, "CarePlan")


def test_a_patient_tokens_subscription_delivers_only_its_patient(static, receiver):
    made = subscribe(static, "tok-p1-subs", f"{receiver.base_url}/p1", content="full-resource")
    filters = [e["valueString"] for e in made["_criteria"]["extension"]]
    assert filters == ["CarePlan?patient=Patient/p1"]  # bound to its patient, and it says so
    running = start_dispatcher(static.app)
    try:
        mine, theirs = triage_for(static, "p1"), triage_for(static, "p2")
        receiver.wait_for(lambda r: len(r.events("/p1")) >= 1)
        wait_until(lambda: drained(static.app))
        events = receiver.events("/p1")
        assert [e.focus.rsplit("/", 1)[1] for e in events] == [mine["id"]]
        assert theirs["id"] not in str([e.body for e in receiver.at("/p1", accepted_only=False)])

        # Delivery checks again: a subscription whose stored criteria lost the patient filter
        # (stale cache, hand-edited row) still sends nothing outside its creator's authority.
        with services(static.app).engine.begin() as conn:
            conn.execute(
                update(WebhookSubscription.__table__).where(WebhookSubscription.id == made["id"]).values(patient=None)
            )
        services(static.app).subscriptions.index.invalidate()
        later = triage_for(static, "p2")
        wait_until(lambda: drained(static.app))
        time.sleep(0.2)
        assert later["id"] not in str([e.body for e in receiver.at("/p1", accepted_only=False)])
        dead = static.get(
            f"/fhir/Subscription/{made['id']}/$deliveries", params={"state": "dead"}, headers=bearer("tok-all")
        ).json()
        assert len(dead["parameter"]) == 1
    finally:
        running.stop()


def test_full_resource_carries_only_what_the_creator_could_read(static, receiver):
    """A creator that may read CarePlans only subscribes id-only; were its row changed to
    full-resource, the Encounter still does not travel."""
    made = subscribe(static, "tok-subs-careplan", f"{receiver.base_url}/cp", content="id-only")
    with services(static.app).engine.begin() as conn:
        conn.execute(
            update(WebhookSubscription.__table__)
            .where(WebhookSubscription.id == made["id"])
            .values(content="full-resource")
        )
    running = start_dispatcher(static.app)
    try:
        triage_for(static, "p1")
        receiver.wait_for(lambda r: len(r.events("/cp")) >= 1)
        entries = receiver.events("/cp")[0].bundle["entry"]
        assert [e.get("resource", {}).get("resourceType") for e in entries] == ["Parameters", "CarePlan", None]
    finally:
        running.stop()


def test_channel_headers_and_url_secrets_are_never_shown_after_creation_nor_logged(static, receiver, caplog):
    caplog.set_level(logging.DEBUG)
    endpoint = f"{receiver.base_url}/hook?api_key=url-secret-123&tenant=t-secret-9"
    made = subscribe(
        static,
        "tok-all",
        endpoint,
        content="id-only",
        headers=("Authorization: Bearer header-secret-456", "X-Api-Key: header-secret-789"),
    )
    # the creator sees what it sent, once
    assert made["channel"]["header"] == ["Authorization: Bearer header-secret-456", "X-Api-Key: header-secret-789"]
    assert made["channel"]["endpoint"] == endpoint
    running = start_dispatcher(static.app)
    try:
        triage_for(static, "p1")
        receiver.wait_for(lambda r: len(r.events("/hook?api_key=url-secret-123&tenant=t-secret-9")) >= 1)
    finally:
        running.stop()
    got = receiver.events("/hook?api_key=url-secret-123&tenant=t-secret-9")[0]
    assert got.headers["authorization"] == "Bearer header-secret-456"  # still delivered as given
    secrets = ("header-secret-456", "header-secret-789", "url-secret-123", "t-secret-9")
    sid = made["id"]
    for path in (
        f"/fhir/Subscription/{sid}",
        "/fhir/Subscription",
        f"/fhir/Subscription/{sid}/$status",
        "/fhir/Subscription/$status",
        f"/fhir/Subscription/{sid}/$deliveries",
    ):
        text = static.get(path, headers=bearer("tok-all")).text
        assert not [s for s in secrets if s in text], path
    read = static.get(f"/fhir/Subscription/{sid}", headers=bearer("tok-all")).json()
    assert read["channel"]["header"] == ["Authorization: ***", "X-Api-Key: ***"]
    assert "api_key=***" in read["channel"]["endpoint"] and "/hook" in read["channel"]["endpoint"]
    logged = "\n".join(r.getMessage() + " " + str(r.__dict__) for r in caplog.records)
    assert not [s for s in secrets if s in logged]
    # nor does the stored resource hold them (only the columns the dispatcher reads)
    with services(static.app).engine.connect() as conn:
        stored = conn.execute(WebhookSubscription.__table__.select().where(WebhookSubscription.id == sid)).one()
    assert not [s for s in secrets if s in json.dumps(stored.resource)]
