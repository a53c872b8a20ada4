"""Every error is an OperationOutcome with the right status, and nothing is stored."""

import time

import pytest

from tests.support import FHIR_JSON, TRIAGE, assert_fhir_response, post_triage, response, stored_encounters


@pytest.mark.parametrize(
    "body, status",
    [
        (b"{not json", 400),
        (b"", 400),
        (b"\xff\xfe{}", 400),  # not UTF-8
        (b"[" * 5000 + b"]" * 5000, 400),  # nested too deeply
        (b'{"resourceType": "Patient", "id": "x"}', 400),  # not a QuestionnaireResponse
        (b'"text"', 400),
        (b'{"resourceType": "QuestionnaireResponse", "status": "completed", "item": "nope"}', 400),  # not FHIR
    ],
)
def test_bad_bodies(client, app, body, status):
    outcome = assert_fhir_response(post_triage(client, body), status, "OperationOutcome")
    assert outcome["issue"][0]["diagnostics"]
    assert stored_encounters(app) == 0


def test_the_body_is_never_echoed(client):
    qr = response()
    qr["item"].append({"linkId": "Jane Roe 555-0100", "answer": [{"valueBoolean": True}]})
    r = post_triage(client, qr)
    assert r.status_code == 422 and "Jane" not in r.text and "555-0100" not in r.text


def test_too_large_is_413(client, app):
    big = b'{"resourceType":"QuestionnaireResponse","padding":"' + b"x" * 1_100_000 + b'"}'
    assert_fhir_response(post_triage(client, big), 413, "OperationOutcome")

    def chunks():  # no Content-Length: the limit still holds while streaming
        yield big[:600_000]
        yield big[600_000:]

    r = client.post(TRIAGE, content=chunks(), headers={"Content-Type": FHIR_JSON})
    assert_fhir_response(r, 413, "OperationOutcome")
    assert stored_encounters(app) == 0


@pytest.mark.parametrize(
    "content_type", [None, "text/plain", "application/xml", "application/fhir+json; charset=latin-1"]
)
def test_wrong_media_type_is_415(client, app, content_type):
    headers = {"Content-Type": content_type} if content_type else {}
    r = client.post(TRIAGE, content=b"{}", headers=headers)
    assert_fhir_response(r, 415, "OperationOutcome")
    assert stored_encounters(app) == 0


@pytest.mark.parametrize("headers, params", [({"Accept": "application/xml"}, {}), ({}, {"_format": "xml"})])
def test_unacceptable_format_is_406(client, headers, params):
    r = client.get("/fhir/metadata", headers=headers, params=params)
    assert_fhir_response(r, 406, "OperationOutcome")
    assert client.get("/fhir/metadata", params={"_format": "json"}).status_code == 200
    assert client.get("/fhir/metadata", headers={"Accept": "application/fhir+json"}).status_code == 200


@pytest.mark.parametrize(
    "path",
    [
        "/fhir/CarePlan/no-such-id",
        "/fhir/Encounter/x",
        "/fhir/QuestionnaireResponse/x",
        "/fhir/Questionnaire/other",
        "/fhir/CodeSystem/other",
        "/fhir/Patient/1",
        "/nothing",
    ],
)
def test_unknown_is_404(client, path):
    assert_fhir_response(client.get(path), 404, "OperationOutcome")


@pytest.mark.parametrize(
    "method, path",
    [("DELETE", "/fhir/CarePlan/x"), ("PUT", "/fhir/metadata"), ("GET", TRIAGE), ("PATCH", "/fhir/Encounter/x")],
)
def test_wrong_method_is_405(client, method, path):
    assert_fhir_response(client.request(method, path), 405, "OperationOutcome")


def test_bad_search_parameters_are_400(client):
    for params in (
        {"date": "yesterday"},
        {"_count": "many"},
        {"_cursor": "!!"},
        {"subject": "Group/1"},
        {"date": "ap2026-01-01"},
    ):
        assert_fhir_response(client.get("/fhir/CarePlan", params=params), 400, "OperationOutcome")
    r = client.get("/fhir/CarePlan", params={"colour": "red"}, headers={"Prefer": "handling=strict"})
    assert_fhir_response(r, 400, "OperationOutcome")
    assert_fhir_response(client.get("/fhir/CarePlan", params={"colour": "red"}), 400, "OperationOutcome")
    lenient = assert_fhir_response(
        client.get("/fhir/CarePlan", params={"colour": "red"}, headers={"Prefer": "handling=lenient"}), 200, "Bundle"
    )
    assert "colour" not in lenient["link"][0]["url"]  # the self link shows what was applied


def test_database_unreachable_is_503_quickly_and_recovers_by_itself():
    from fastapi.testclient import TestClient

    from app.main import create_app
    from app.settings import Settings

    app = create_app(Settings(database_url="postgresql://postgres@127.0.0.1:1/none", auto_migrate=False))
    with TestClient(app) as down:
        start = time.monotonic()
        r = post_triage(down, response())
        assert time.monotonic() - start < 1.5
        outcome = assert_fhir_response(r, 503, "OperationOutcome")
        assert r.headers["retry-after"] and outcome["issue"][0]["code"] == "transient"
        assert down.get("/fhir/CarePlan/x").status_code == 503
        assert down.get("/readyz").status_code == 503
        assert down.get("/healthz").status_code == 200


def test_unexpected_errors_are_500_outcomes_without_a_trace(client):
    import dataclasses

    from fastapi.testclient import TestClient

    from app.services import services
    from app.triage.deps import TriageServices, triage_services
    from app.triage.repository import EncounterRepository

    class Broken(EncounterRepository):
        def triage(self, *args, **kwargs):
            raise RuntimeError("secret internals")

    real = services(client.app).triage
    broken = dataclasses.replace(real, repository=Broken(real.repository.engine, real.repository.outbox))

    async def broken_triage() -> TriageServices:
        return broken

    client.app.dependency_overrides[triage_services] = broken_triage
    try:
        c = TestClient(client.app, raise_server_exceptions=False)  # no `with`: keep the session's lifespan
        r = post_triage(c, response())
    finally:
        del client.app.dependency_overrides[triage_services]
    outcome = assert_fhir_response(r, 500, "OperationOutcome")
    assert "secret internals" not in r.text and "Traceback" not in r.text
    assert "reference" in outcome["issue"][0]["diagnostics"]


def test_nul_characters_are_400_on_every_engine(client, app):
    qr = response(identifier={"system": "urn:x", "value": "a\u0000b"})
    import orjson

    r = post_triage(client, orjson.dumps(qr))
    assert_fhir_response(r, 400, "OperationOutcome")
    r = post_triage(client, response(), **{"If-None-Exist": "identifier=urn:x|a%00b"})
    assert_fhir_response(r, 400, "OperationOutcome")
    import base64

    cursor = base64.urlsafe_b64encode(b"2026-01-01T00:00:00+00:00|\x00").decode()
    assert_fhir_response(client.get("/fhir/CarePlan", params={"_cursor": cursor}), 400, "OperationOutcome")
    assert stored_encounters(app) == 0
