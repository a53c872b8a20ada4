"""Resource edges of request bodies (hardening, finding 8): a body-read timeout, errors of
bounded size, a lower default body limit, client disconnects logged as such (499) rather than
as 500s, one identifier length limit on both engines, and Content-Encoding refused (415)."""

from __future__ import annotations

import json
import logging
import socket
import time

import pytest

from app.main import create_app
from app.settings import Settings
from tests.support import FHIR_JSON, TRIAGE, assert_fhir_response, live, post_triage, response, stored_encounters


@pytest.fixture
def own_server(tmp_path):
    """The service on a real uvicorn, with a short body-read timeout: its port."""
    app = create_app(
        Settings(database_url=f"sqlite:///{tmp_path / 'edges.db'}", webhook_dispatcher="off", body_timeout_seconds=0.5)
    )
    with live(app) as url:
        yield int(url.rsplit(":", 1)[1])


def _start_post(port: int, declared: int, sent: bytes) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=15)
    sock.sendall(
        f"POST {TRIAGE} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {FHIR_JSON}\r\n"
        f"Content-Length: {declared}\r\n\r\n".encode()
        + sent
    )
    return sock


def test_a_client_that_stops_sending_its_body_gets_408(own_server):
    sock = _start_post(own_server, 10_000, b'{"resourceType": "Questionn')
    try:
        answer = sock.recv(65536)  # the socket's 15 s timeout tells a bounded wait from none
    finally:
        sock.close()
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    assert b"OperationOutcome" in answer


def test_a_client_that_disconnects_mid_body_is_logged_as_499_not_500(own_server, caplog):
    caplog.set_level(logging.INFO, logger="lbp_triage")
    sock = _start_post(own_server, 10_000, b'{"resourceType": "Questionn')
    sock.close()
    deadline = time.monotonic() + 10
    while not [r for r in caplog.records if r.getMessage() == "request" and getattr(r, "route", "") == TRIAGE]:
        assert time.monotonic() < deadline, "the request was never logged"
        time.sleep(0.02)
    statuses = [r.status for r in caplog.records if r.getMessage() == "request"]
    assert 499 in statuses and 500 not in statuses
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_errors_are_bounded_in_size_and_say_how_many_more(client):
    body = response()
    body["item"].extend({"linkId": f"unknown-{n}", "answer": [{"valueBoolean": True}]} for n in range(1500))
    raw = json.dumps(body).encode()
    assert len(raw) < 128 * 1024
    r = post_triage(client, raw)
    outcome = assert_fhir_response(r, 422, "OperationOutcome")
    assert len(r.content) < 32 * 1024
    assert len(outcome["issue"]) <= 101
    assert "more" in outcome["issue"][-1]["diagnostics"]


def test_the_default_body_limit_is_low(client):
    assert Settings().max_body_bytes <= 256 * 1024
    big = json.dumps({**response(), "text": {"status": "generated", "div": "x" * 300_000}}).encode()
    assert_fhir_response(post_triage(client, big), 413, "OperationOutcome")


@pytest.mark.parametrize("where", ["system", "value"])
def test_identifiers_over_the_limit_are_400_on_every_engine(client, app, where):
    identifier = {"system": "urn:ehr", "value": "v"}
    identifier[where] = ("urn:" if where == "system" else "") + "x" * 1100
    r = post_triage(client, response(identifier=identifier))
    assert_fhir_response(r, 400, "OperationOutcome")
    assert stored_encounters(app) == 0


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "br", "identity, gzip"])
def test_content_encoding_other_than_identity_is_415(client, app, encoding):
    r = post_triage(client, json.dumps(response()).encode(), **{"Content-Encoding": encoding})
    assert_fhir_response(r, 415, "OperationOutcome")
    assert stored_encounters(app) == 0
    assert post_triage(client, json.dumps(response()).encode(), **{"Content-Encoding": "identity"}).status_code == 201


def test_subscription_endpoints_over_the_limit_are_422_on_every_engine(client):
    from tests.webhook_support import subscription_body

    r = client.post(
        "/fhir/Subscription",
        json=subscription_body("http://127.0.0.1:9/" + "x" * 2100),
        headers={"Content-Type": FHIR_JSON},
    )
    assert_fhir_response(r, 422, "OperationOutcome")
