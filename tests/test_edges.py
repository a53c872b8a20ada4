"""Forgeable and oracle-prone edges (hardening, finding 7): only trusted proxies decide the
client address and scheme, links never come from a raw Host header, and a patient token
cannot tell another patient's data from missing data. Both engines."""

from __future__ import annotations

import json

from fastapi.testclient import TestClient

from app.main import create_app
from app.settings import Settings
from tests.support import assert_fhir_response, post_triage, response
from tests.test_security import STATIC_TOKENS, bearer, wait_for_audit


def _client(database_url, peer="127.0.0.1", **settings):
    app = create_app(
        Settings(
            database_url=database_url,
            auto_migrate=True,
            auth_mode="static",
            auth_tokens=json.dumps(STATIC_TOKENS),
            webhook_dispatcher="off",
            **settings,
        )
    )
    return TestClient(app, client=(peer, 40000))


def _audited_addresses(client):
    bundle = wait_for_audit(client, at_least=1, token="tok-all")
    return {e["resource"]["agent"][0].get("network", {}).get("address") for e in bundle["entry"]}


def test_forwarded_headers_count_only_from_trusted_proxies(app, database_url):
    from tests.conftest import _empty_tables

    forged = {"X-Forwarded-For": "203.0.113.66", "X-Forwarded-Proto": "https"}
    _empty_tables(app)
    with _client(database_url) as client:  # default: no proxy is trusted, not even loopback
        r = client.get("/fhir/CarePlan", headers={**bearer("tok-reader"), **forged})
        assert r.json()["link"][0]["url"].startswith("http://")
        assert "203.0.113.66" not in _audited_addresses(client)
    _empty_tables(app)
    with _client(database_url, peer="10.0.0.5", trusted_proxies="10.0.0.0/8") as client:
        r = client.get(
            "/fhir/CarePlan",
            headers={
                **bearer("tok-reader"),
                "X-Forwarded-For": "198.51.100.1, 203.0.113.66, 10.0.0.9",
                "X-Forwarded-Proto": "https",
            },
        )
        assert r.json()["link"][0]["url"].startswith("https://")
        # the nearest address no trusted proxy vouches for: what the client before it wrote is not believed
        assert "203.0.113.66" in _audited_addresses(client)


def test_the_serve_command_leaves_forwarded_headers_to_the_service(monkeypatch):
    import uvicorn

    from app import cli

    seen = {}
    monkeypatch.setattr(uvicorn, "run", lambda *args, **kwargs: seen.update(kwargs))
    cli.main(["serve"])
    assert seen["proxy_headers"] is False  # uvicorn would believe any loopback peer


def test_links_never_come_from_a_raw_host_header(app, database_url):
    with _client(database_url) as client:
        r = client.get("/fhir/CarePlan", headers={**bearer("tok-reader"), "Host": "evil.example"})
        assert "evil.example" not in r.text
        assert "evil.example" not in client.get("/fhir/metadata", headers={"Host": "evil.example"}).text
    with _client(database_url, allowed_hosts="triage.example.org") as client:
        r = client.get("/fhir/CarePlan", headers={**bearer("tok-reader"), "Host": "triage.example.org"})
        assert r.json()["link"][0]["url"].startswith("http://triage.example.org/fhir/CarePlan")
        r = client.get("/fhir/CarePlan", headers={**bearer("tok-reader"), "Host": "evil.example"})
        assert "evil.example" not in r.text
    with _client(database_url, public_base_url="https://public.example/base") as client:
        r = client.get("/fhir/CarePlan", headers={**bearer("tok-reader"), "Host": "evil.example"})
        assert r.json()["link"][0]["url"].startswith("https://public.example/base/fhir/CarePlan")


def test_another_patients_identifier_answers_as_an_unknown_one_does(app, database_url):
    """Before: 403 for another patient's identifier, 201 for an unknown one (existence leaked)."""
    from tests.conftest import _empty_tables

    _empty_tables(app)
    with _client(database_url) as client:
        post_triage(
            client, response(patient="p2", identifier={"system": "urn:ehr", "value": "taken"}), **bearer("tok-all")
        )
        p1 = bearer("tok-p1")
        answers = {}
        for value in ("taken", "unknown"):
            body = response(patient="p1", identifier={"system": "urn:ehr", "value": value})
            first, again = post_triage(client, body, **p1), post_triage(client, body, **p1)
            by_header = post_triage(
                client, response(patient="p1"), **p1, **{"If-None-Exist": f"identifier=urn:ehr|{value}"}
            )
            answers[value] = (first.status_code, again.status_code, by_header.status_code)
            assert "Patient/p2" not in first.text + again.text + by_header.text
            assert "p2" not in by_header.text
            assert again.json()["id"] == first.json()["id"]  # idempotent for its own submissions
        # If-None-Exist matched the patient's own response, but the body (without its identifier)
        # is not that same response: 409 (issue 9) — alike for both, which is what matters here.
        assert answers["taken"] == answers["unknown"] == (201, 200, 409)
        # p2's own triage is untouched, and the system token still gets it back
        replay = post_triage(
            client, response(patient="p2", identifier={"system": "urn:ehr", "value": "taken"}), **bearer("tok-all")
        )
        assert replay.status_code == 200 and "Patient/p2" in replay.text
        # reads: another patient's CarePlan and a missing one answer alike
        theirs = replay.json()["id"]
        a, b = client.get(f"/fhir/CarePlan/{theirs}", headers=p1), client.get("/fhir/CarePlan/nope", headers=p1)
        assert (a.status_code, a.json()["issue"][0]["diagnostics"]) == (
            b.status_code,
            b.json()["issue"][0]["diagnostics"],
        )
        assert_fhir_response(a, 404, "OperationOutcome")
