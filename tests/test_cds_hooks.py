"""CDS Hooks 2.0 over real HTTP: an EHR calls the services with JWTs signed by its own key (its
JWKS served on loopback); every answer is checked against the CDS Hooks 2.0 JSON shapes
(tests/data/cds-hooks-2.0.schema.json). Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import time
import uuid

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import RSAKey
from sqlalchemy import func, select

from app.main import create_app
from app.services import services
from app.settings import Settings
from app.store.tables import AuditRecord, CdsFeedback
from tests.cds_support import (
    CPT,
    Ehr,
    Served,
    assert_shape,
    hook_request,
    imaging_order,
    live,
    searchset,
    shape_errors,
)
from tests.conftest import _empty_tables
from tests.support import answers_with, assert_valid_r4, response, stored_encounters

API_ISSUER, API_AUDIENCE = "https://auth.example", "lbp-triage"
EXTRA_IMAGING_CODE = "72080"  # thoracolumbar X-ray: a site's own addition


class Cds:
    def __init__(self, app, base: str, ehr: Ehr, api_key, fhir: Served, stranger: Served) -> None:
        self.app, self.base, self.ehr, self.api_key = app, base, ehr, api_key
        self.fhir, self.stranger = fhir, stranger
        self.http = httpx.Client(base_url=base, timeout=30)

    def url(self, service: str) -> str:
        return f"{self.base}/cds-services/{service}"

    def call(self, service: str, body, token: str | None = "mint", **headers) -> httpx.Response:
        if token == "mint":
            token = self.ehr.token(self.url(service))
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return self.http.post(f"/cds-services/{service}", json=body, headers=headers)

    def cards(self, service: str, body) -> list[dict]:
        answer = self.call(service, body)
        assert answer.status_code == 200, answer.text[:500]
        assert answer.headers["content-type"].startswith("application/json")
        assert_shape("Response", answer.json())
        return answer.json()["cards"]

    def triage_token(self) -> str:
        token = jwt.encode(
            {"alg": "RS256", "kid": self.api_key.kid},
            {
                "iss": API_ISSUER,
                "aud": API_AUDIENCE,
                "exp": int(time.time()) + 300,
                "sub": "form",
                "scope": "system/*.*",
            },
            self.api_key,
        )
        return f"Bearer {token}"

    def triage(self, answers=None, patient: str = "p1") -> dict:
        made = self.http.post(
            "/fhir/QuestionnaireResponse/$triage",
            content=json.dumps(response(answers, patient=patient)),
            headers={"Content-Type": "application/fhir+json", "Authorization": self.triage_token()},
        )
        assert made.status_code == 201, made.text[:300]
        return made.json()


@pytest.fixture(scope="module")
def cds_server(database_url):
    ehr = Ehr()
    api_key = RSAKey.generate_key(2048, parameters={"kid": "api-1"})
    fhir = Served({})
    stranger = Served({})
    app = create_app(
        Settings(
            database_url=database_url,
            auto_migrate=True,
            webhook_dispatcher="off",
            auth_mode="jwt",
            jwt_public_key=api_key.as_pem(private=False).decode(),
            jwt_issuer=API_ISSUER,
            jwt_audience=API_AUDIENCE,
            cds_clients=json.dumps({ehr.issuer: ehr.jwks_url}),
            cds_fhir_servers=f"{fhir.url}/fhir",
            cds_imaging_codes=EXTRA_IMAGING_CODE,
        )
    )
    try:
        with live(app) as base:
            yield Cds(app, base, ehr, api_key, fhir, stranger)
    finally:
        ehr.close()
        fhir.close()
        stranger.close()


@pytest.fixture
def cds(cds_server):
    _empty_tables(cds_server.app)
    cds_server.fhir.routes.clear()
    cds_server.fhir.requests.clear()
    cds_server.stranger.requests.clear()
    return cds_server


# --- discovery ----------------------------------------------------------------------------


def test_discovery_lists_the_services_with_their_prefetch(cds):
    answer = cds.http.get("/cds-services")
    assert answer.status_code == 200
    assert_shape("Discovery", answer.json())
    services = {s["id"]: s for s in answer.json()["services"]}
    assert services["lbp-triage"]["hook"] == "patient-view"
    assert services["lbp-triage-encounter-start"]["hook"] == "encounter-start"
    assert services["lbp-imaging"]["hook"] == "order-sign"
    assert services["lbp-imaging-order-select"]["hook"] == "order-select"
    for service in services.values():
        assert service["prefetch"] == {
            "lbpResponse": "QuestionnaireResponse?subject={{context.patientId}}&_sort=-authored&_count=1"
        }


def test_the_request_shapes_used_here_are_cds_hooks_requests():
    for hook in ("patient-view", "encounter-start", "order-sign", "order-select"):
        assert_shape("Request", hook_request(hook, prefetch=None))
    assert shape_errors("Request", {"hook": "patient-view", "context": {}})  # the schema does refuse


# --- lbp-triage --------------------------------------------------------------------------


def test_prefetched_response_is_triaged_in_memory_and_not_stored(cds):
    emergency = response(answers_with(saddle_numbness=True), patient="p1")
    cards = cds.cards("lbp-triage", hook_request("patient-view", prefetch=searchset(emergency)))
    assert len(cards) == 1
    card = cards[0]
    assert card["indicator"] == "critical"
    assert "ces-saddle-numbness" in card["detail"] and "saddle-numbness: yes" in card["detail"]
    assert card["source"]["label"] == "lbp-triage (rules 1.0.0)"
    assert card["source"]["url"].endswith("PlanDefinition/lbp-triage-rules|1.0.0")
    (suggestion,) = card["suggestions"]
    (action,) = suggestion["actions"]
    assert action["type"] == "create"
    careplan = action["resource"]
    assert careplan["resourceType"] == "CarePlan" and careplan["subject"] == {"reference": "Patient/p1"}
    assert careplan["category"][0]["coding"][0]["code"] == "emergency"
    assert "id" not in careplan and "encounter" not in careplan  # the EHR creates its own
    assert_valid_r4(careplan)
    assert stored_encounters(cds.app) == 0


@pytest.mark.parametrize(
    "answers,indicator",
    [
        (answers_with(leg_weakness=True), "critical"),  # urgent
        (answers_with(injury=True), "info"),  # doctor
        (answers_with(), "info"),  # self-care
    ],
)
def test_stored_latest_triage_when_the_ehr_has_no_response(cds, answers, indicator):
    made = cds.triage(answers, patient="p1")
    for hook, service in (
        ("patient-view", "lbp-triage"),
        ("encounter-start", "lbp-triage-encounter-start"),
        ("encounter-start", "lbp-triage"),
    ):
        (card,) = cds.cards(service, hook_request(hook, prefetch=searchset()))
        assert card["indicator"] == indicator
        assert card["source"]["topic"]["code"] == made["category"][0]["coding"][0]["code"]
        assert card["links"][0]["url"] == f"{cds.base}/fhir/CarePlan/{made['id']}?_format=html"


def test_doctor_soon_is_a_warning(cds):
    """Rules 2's doctor-soon disposition (weight loss at 62, NG12), stored and prefetched alike."""
    from tests.support_v2 import answers_v2, response_v2

    weight_loss_at_62 = answers_v2(weight_loss=True, age=62)
    (card,) = cds.cards("lbp-triage", hook_request("patient-view", prefetch=searchset(response_v2(weight_loss_at_62))))
    assert card["indicator"] == "warning" and "doctor-soon" in card["detail"]
    assert card["source"]["label"] == "lbp-triage (rules 2.0.0)"
    made = cds.http.post(
        "/fhir/QuestionnaireResponse/$triage",
        content=json.dumps(response_v2(weight_loss_at_62)),
        headers={"Content-Type": "application/fhir+json", "Authorization": cds.triage_token()},
    )
    assert made.status_code == 201 and made.json()["category"][0]["coding"][0]["code"] == "doctor-soon"
    (card,) = cds.cards("lbp-triage", hook_request("patient-view", prefetch=None))
    assert card["indicator"] == "warning" and "doctor-soon" in card["detail"]


def test_latest_is_the_newest_and_is_the_hooks_patient(cds):
    cds.triage(answers_with(saddle_numbness=True), patient="p1")
    cds.triage(answers_with(), patient="p1")
    cds.triage(answers_with(saddle_numbness=True), patient="p2")
    (card,) = cds.cards("lbp-triage", hook_request("patient-view", prefetch=None))
    assert card["indicator"] == "info" and "self-care" in card["source"]["topic"]["code"]


def test_no_triage_no_cards(cds):
    cds.triage(answers_with(saddle_numbness=True), patient="someone-else")
    assert cds.cards("lbp-triage", hook_request("patient-view", prefetch=None)) == []
    assert cds.cards("lbp-triage", hook_request("patient-view", prefetch=searchset())) == []


def test_missing_prefetch_without_fhir_server_is_412(cds):
    answer = cds.call("lbp-triage", hook_request("patient-view"))
    assert answer.status_code == 412
    assert answer.json()["resourceType"] == "OperationOutcome"


def test_prefetch_about_another_patient_is_refused(cds):
    theirs = response(answers_with(), patient="p2")
    answer = cds.call("lbp-triage", hook_request("patient-view", prefetch=searchset(theirs)))
    assert answer.status_code == 400
    assert "Patient/p2" not in answer.text


def test_an_incomplete_response_is_never_a_silent_no(cds):
    """A prefetched response missing a warning-sign answer gets a warning card, not 'no red flags'."""
    incomplete = response(answers_with(saddle_numbness=None), patient="p1")
    cds.triage(answers_with(), patient="p1")  # an older, complete triage must not stand in for it
    (card,) = cds.cards("lbp-triage", hook_request("patient-view", prefetch=incomplete))
    assert card["indicator"] == "warning" and "incomplete" in card["summary"]
    assert cds.cards("lbp-imaging", hook_request("order-sign", prefetch=incomplete)) == []


def test_wrong_hook_for_the_service_is_400(cds):
    assert cds.call("lbp-triage", hook_request("order-sign", prefetch=None)).status_code == 400
    assert (
        cds.call(
            "no-such-service",
            hook_request("patient-view", prefetch=None),
            token=cds.ehr.token(cds.url("no-such-service")),
        ).status_code
        == 404
    )


# --- lbp-imaging (order-sign, order-select) -----------------------------------------------


def test_order_sign_without_red_flags_warns_and_suggests_deleting_the_order(cds):
    cds.triage(answers_with(), patient="p1")  # acute (lt-6w), no findings
    for hook, service in (("order-sign", "lbp-imaging"), ("order-select", "lbp-imaging-order-select")):
        (card,) = cds.cards(service, hook_request(hook, prefetch=None, orders=[imaging_order("72148", "mri-1")]))
        assert card["indicator"] == "warning"
        assert "Imaging rarely changes care" in card["summary"]
        assert "§ Imaging" in card["detail"] and "CMS166" in card["detail"]
        (action,) = card["suggestions"][0]["actions"]
        assert action == {
            "type": "delete",
            "description": action["description"],
            "resourceId": ["ServiceRequest/mri-1"],
        }
        assert card["overrideReasons"] and all(r["display"] for r in card["overrideReasons"])


def test_order_sign_with_red_flags_is_info_naming_them(cds):
    cds.triage(answers_with(leg_weakness=True), patient="p1")
    (card,) = cds.cards("lbp-imaging", hook_request("order-sign", prefetch=None))
    assert card["indicator"] == "info"
    assert "Weakness in the legs" in card["summary"]
    assert "suggestions" not in card


def test_order_sign_with_only_doctor_tier_findings_still_warns(cds):
    cds.triage(answers_with(injury=True), patient="p1")  # doctor tier: no red flag
    (card,) = cds.cards("lbp-imaging", hook_request("order-sign", prefetch=None))
    assert card["indicator"] == "warning"


def test_order_sign_after_six_weeks_no_card(cds):
    cds.triage(answers_with(pain_duration="6-12w"), patient="p1")
    assert cds.cards("lbp-imaging", hook_request("order-sign", prefetch=None)) == []


def test_order_sign_no_triage_no_card(cds):
    cds.triage(answers_with(), patient="p2")
    assert cds.cards("lbp-imaging", hook_request("order-sign", patient="p1", prefetch=None)) == []


def test_order_sign_non_imaging_order_no_card(cds):
    cds.triage(answers_with(), patient="p1")
    chest = imaging_order("71046", "chest-1")
    lab = {
        "resourceType": "MedicationRequest",
        "id": "med-1",
        "status": "draft",
        "intent": "order",
        "subject": {"reference": "Patient/p1"},
        "medicationCodeableConcept": {"coding": [{"system": CPT, "code": "72148"}]},
    }
    assert cds.cards("lbp-imaging", hook_request("order-sign", prefetch=None, orders=[chest, lab])) == []


def test_order_sign_unknown_patient_no_card(cds):
    assert cds.cards("lbp-imaging", hook_request("order-sign", patient="unknown-9", prefetch=None)) == []


def test_order_sign_for_another_patients_order_is_refused(cds):
    cds.triage(answers_with(), patient="p1")
    theirs = imaging_order("72148", "mri-2", patient="p2")
    answer = cds.call("lbp-imaging", hook_request("order-sign", prefetch=None, orders=[theirs]))
    assert answer.status_code == 400


def test_order_sign_uses_the_prefetched_response_too(cds):
    acute = response(answers_with(), patient="p1")
    (card,) = cds.cards("lbp-imaging", hook_request("order-sign", prefetch=searchset(acute)))
    assert card["indicator"] == "warning"
    assert stored_encounters(cds.app) == 0


def test_imaging_codes_are_a_served_valueset_extended_by_settings(cds):
    valueset = cds.http.get("/fhir/ValueSet/lbp-lumbar-imaging").json()
    assert_valid_r4(valueset)
    codes = {c["code"] for c in valueset["compose"]["include"][0]["concept"]}
    assert {
        "72100",
        "72110",
        "72114",
        "72120",
        "72131",
        "72132",
        "72133",
        "72148",
        "72149",
        "72158",
        EXTRA_IMAGING_CODE,
    } == codes
    cds.triage(answers_with(), patient="p1")
    (card,) = cds.cards(
        "lbp-imaging", hook_request("order-sign", prefetch=None, orders=[imaging_order(EXTRA_IMAGING_CODE, "x-1")])
    )
    assert card["indicator"] == "warning"


# --- fhirServer and fhirAuthorization ------------------------------------------------------


def _authorization(patient: str = "p1") -> dict:
    return {
        "access_token": "ehr-access-token",
        "token_type": "Bearer",
        "expires_in": 300,
        "scope": "patient/QuestionnaireResponse.read",
        "subject": "lbp-triage",
        "patient": patient,
    }


def test_missing_prefetch_is_fetched_from_the_allowlisted_fhir_server_with_its_token(cds):
    cds.fhir.routes["/fhir/QuestionnaireResponse"] = (200, searchset(response(answers_with(leg_weakness=True))))
    body = hook_request("patient-view", fhirServer=f"{cds.fhir.url}/fhir", fhirAuthorization=_authorization())
    assert_shape("Request", body)
    (card,) = cds.cards("lbp-triage", body)
    assert card["indicator"] == "critical"
    ((path, headers),) = cds.fhir.requests
    assert path == "/fhir/QuestionnaireResponse?subject=Patient/p1&_sort=-authored&_count=1"
    assert headers["Authorization"] == "Bearer ehr-access-token"


def test_the_token_never_goes_to_a_server_that_is_not_allowlisted(cds):
    body = hook_request("patient-view", fhirServer=f"{cds.stranger.url}/fhir", fhirAuthorization=_authorization())
    answer = cds.call("lbp-triage", body)
    assert answer.status_code == 412
    assert cds.stranger.requests == []
    for ssrf in ("http://169.254.169.254/latest", "http://10.0.0.1/fhir", "file:///etc/passwd"):
        assert cds.call("lbp-triage", dict(body, fhirServer=ssrf)).status_code == 412


def test_fhir_authorization_for_another_patient_is_refused(cds):
    body = hook_request("patient-view", fhirServer=f"{cds.fhir.url}/fhir", fhirAuthorization=_authorization("p2"))
    assert cds.call("lbp-triage", body).status_code == 400
    assert cds.fhir.requests == []


def test_fhir_server_data_about_another_patient_is_refused(cds):
    cds.fhir.routes["/fhir/QuestionnaireResponse"] = (200, searchset(response(answers_with(), patient="p2")))
    body = hook_request("patient-view", fhirServer=f"{cds.fhir.url}/fhir", fhirAuthorization=_authorization())
    assert cds.call("lbp-triage", body).status_code == 400


# --- the EHR's JWT -------------------------------------------------------------------------


def test_calls_need_the_ehrs_signed_jwt(cds):
    cds.triage(answers_with(), patient="p1")
    body = hook_request("patient-view", prefetch=None)
    url = cds.url("lbp-triage")
    stranger_key = RSAKey.generate_key(2048, parameters={"kid": "ehr-1"})
    refused = {
        "no token": None,
        "expired": cds.ehr.token(url, exp_in=-120),
        "wrong audience": cds.ehr.token(f"{cds.base}/cds-services/lbp-imaging"),
        "another service's host": cds.ehr.token("https://elsewhere.example/cds-services/lbp-triage"),
        "unknown issuer": cds.ehr.token(url, iss="https://evil.example"),
        "wrongly signed": cds.ehr.token(url, key=stranger_key),
        "jku elsewhere": cds.ehr.token(url, header={"jku": "https://evil.example/jwks.json"}),
        "no jti": jwt.encode(
            {"alg": "RS256", "kid": "ehr-1"},
            {"iss": cds.ehr.issuer, "aud": url, "exp": int(time.time()) + 300},
            cds.ehr.key,
        ),
        "not a jwt": "abc.def.ghi",
        "the API's own token": jwt.encode(
            {"alg": "RS256", "kid": "api-1"},
            {"iss": API_ISSUER, "aud": url, "exp": int(time.time()) + 300, "jti": "x"},
            cds.api_key,
        ),
    }
    for name, token in refused.items():
        answer = cds.call("lbp-triage", body, token=token)
        assert answer.status_code == 401, name
        assert answer.headers["www-authenticate"].startswith("Bearer"), name
    assert cds.call("lbp-triage", body, token=cds.ehr.token(url, header={"jku": cds.ehr.jwks_url})).status_code == 200
    assert cds.call("lbp-triage", body, token=cds.ehr.token(url, alg="RS384")).status_code == 200  # the spec's own


def test_a_jti_is_used_once(cds):
    token = cds.ehr.token(cds.url("lbp-triage"), jti="once-only")
    body = hook_request("patient-view", prefetch=None)
    assert cds.call("lbp-triage", body, token=token).status_code == 200
    replay = cds.call("lbp-triage", body, token=token)
    assert replay.status_code == 401 and "jti" in replay.text


def test_hook_calls_are_audited(cds):
    made = cds.triage(answers_with(), patient="p1")
    cds.cards("lbp-triage", hook_request("patient-view", prefetch=None))
    audit = AuditRecord.__table__
    deadline = time.monotonic() + 5
    while True:  # audit records are written just after the answer
        with services(cds.app).engine.connect() as conn:
            rows = (
                conn.execute(
                    select(audit).where(audit.c.agent == f"cds:{cds.ehr.issuer}", audit.c.resource_id == made["id"])
                )
                .mappings()
                .all()
            )
        if rows or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    (row,) = rows
    assert row["patient"] == "p1" and row["interaction"] == "read" and row["resource_type"] == "CarePlan"
    # refused calls are recorded too
    assert cds.call("lbp-triage", hook_request("patient-view", prefetch=None), token=None).status_code == 401
    refused = hook_request("patient-view", patient="p7", prefetch=searchset(response(patient="p8")))
    assert cds.call("lbp-triage", refused).status_code == 400
    deadline = time.monotonic() + 5
    while True:
        with services(cds.app).engine.connect() as conn:
            statuses = {(r.agent, r.patient, r.status) for r in conn.execute(select(audit))}
        if {("anonymous", None, 401), (f"cds:{cds.ehr.issuer}", "p7", 400)} <= statuses or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert {("anonymous", None, 401), (f"cds:{cds.ehr.issuer}", "p7", 400)} <= statuses


def test_none_mode_serves_this_machine_only(database_url):
    from fastapi.testclient import TestClient

    application = create_app(Settings(database_url=database_url, auth_mode="none", webhook_dispatcher="off"))
    body = hook_request("patient-view", patient="nobody", prefetch=None)
    with (
        TestClient(application, client=("127.0.0.1", 40000)) as local,
        TestClient(application, client=("198.51.100.9", 40000)) as remote,
    ):
        assert local.post("/cds-services/lbp-triage", json=body).json() == {"cards": []}
        assert remote.post("/cds-services/lbp-triage", json=body).status_code == 403
        assert (
            local.post("/cds-services/lbp-triage", json=body, headers={"X-Forwarded-For": "203.0.113.9"}).status_code
            == 403
        )
        assert remote.get("/cds-services").status_code == 200  # discovery holds no patient data


# --- feedback ------------------------------------------------------------------------------


def _feedback_count(app, outcome: str) -> int:
    table = CdsFeedback.__table__
    with services(app).engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table).where(table.c.outcome == outcome)).scalar_one()


def _metric(cds, outcome: str) -> float:
    for line in cds.http.get("/metrics").text.splitlines():
        if (
            line.startswith("lbp_cds_feedback_total{")
            and f'outcome="{outcome}"' in line
            and 'service="lbp-imaging"' in line
        ):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_feedback_is_stored_and_counted(cds):
    cds.triage(answers_with(), patient="p1")
    (card,) = cds.cards("lbp-imaging", hook_request("order-sign", prefetch=None))
    suggestion = card["suggestions"][0]["uuid"]
    before = _metric(cds, "accepted"), _metric(cds, "overridden")
    feedback = {
        "feedback": [
            {
                "card": card["uuid"],
                "outcome": "accepted",
                "acceptedSuggestions": [{"id": suggestion}],
                "outcomeTimestamp": "2026-11-25T10:00:00Z",
            },
            {
                "card": card["uuid"],
                "outcome": "overridden",
                "overrideReason": {"reason": card["overrideReasons"][0], "userComment": "Progressive numbness on exam"},
                "outcomeTimestamp": "2026-11-25T10:01:00.000+00:00",
            },
        ]
    }
    assert_shape("Feedback", feedback)
    url = cds.url("lbp-imaging")
    answer = cds.http.post(
        "/cds-services/lbp-imaging/feedback", json=feedback, headers={"Authorization": f"Bearer {cds.ehr.token(url)}"}
    )
    assert answer.status_code == 200
    assert _feedback_count(cds.app, "accepted") == 1 and _feedback_count(cds.app, "overridden") == 1
    assert (_metric(cds, "accepted"), _metric(cds, "overridden")) == (before[0] + 1, before[1] + 1)
    with services(cds.app).engine.connect() as conn:
        row = (
            conn.execute(select(CdsFeedback.__table__).where(CdsFeedback.__table__.c.outcome == "overridden"))
            .mappings()
            .one()
        )
    assert row["override_code"] == card["overrideReasons"][0]["code"] and row["card"] == card["uuid"]


def test_feedback_needs_the_jwt_and_the_shape(cds):
    url = cds.url("lbp-imaging")
    good = {
        "feedback": [
            {
                "card": str(uuid.uuid4()),
                "outcome": "accepted",
                "acceptedSuggestions": [],
                "outcomeTimestamp": "2026-11-25T10:00:00Z",
            }
        ]
    }
    assert cds.http.post("/cds-services/lbp-imaging/feedback", json=good).status_code == 401
    for bad in (
        {"feedback": []},
        {"feedback": [{"card": "c", "outcome": "ignored", "outcomeTimestamp": "2026-11-25T10:00:00Z"}]},
        {"feedback": [{"card": "c", "outcome": "accepted"}]},
    ):
        assert shape_errors("Feedback", bad)
        answer = cds.http.post(
            "/cds-services/lbp-imaging/feedback", json=bad, headers={"Authorization": f"Bearer {cds.ehr.token(url)}"}
        )
        assert answer.status_code == 400, bad
    assert _feedback_count(cds.app, "accepted") == 0


def test_a_hook_call_refused_as_malformed_json_is_audited_with_the_status_it_was_answered(cds):
    # The body is read strictly (duplicate keys are malformed JSON): a 400, and the audit says 400, not 500.
    token = cds.ehr.token(cds.url("lbp-triage"))
    body = b'{"hook": "patient-view", "hook": "order-sign"}'
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    assert cds.http.post("/cds-services/lbp-triage", content=body, headers=headers).status_code == 400
    audit = AuditRecord.__table__
    agent = f"cds:{cds.ehr.issuer}"
    deadline = time.monotonic() + 5
    while True:  # audit records are written just after the answer
        with services(cds.app).engine.connect() as conn:
            statuses = {r.status for r in conn.execute(select(audit).where(audit.c.agent == agent))}
        if 400 in statuses or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert 400 in statuses and 500 not in statuses


def test_a_token_for_another_service_is_refused_whatever_host_header_comes_with_it(cds):
    """The service's own URL, which a token's audience must name, comes from LBP_PUBLIC_BASE_URL,
    a host LBP_ALLOWED_HOSTS vouches for, or the address it listens on: never from the Host
    header alone. Else a token minted for a CDS service elsewhere, replayed here with that
    service's host in the Host header, was accepted as addressed to this one."""
    cds.triage(answers_with(), patient="p1")
    body = hook_request("patient-view", prefetch=None)
    elsewhere = cds.ehr.token("http://elsewhere.example/cds-services/lbp-triage")
    answer = cds.call("lbp-triage", body, token=elsewhere, Host="elsewhere.example")
    assert answer.status_code == 401, answer.text[:300]
    # a token for this service is still good, and its cards link here, not to the Host sent
    cards = cds.call("lbp-triage", body, Host="elsewhere.example").json()["cards"]
    assert cards and all("elsewhere.example" not in json.dumps(card) for card in cards)
