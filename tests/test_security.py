"""Security: every auth mode and scope on every endpoint, bad tokens, patient/ tokens,
the audit trail, rate limits, CORS and body limits. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from fastapi.testclient import TestClient
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey

from app.fhir.canonical import PLANDEFINITION_URL
from app.main import create_app
from app.services import services
from app.settings import Settings
from tests.support import TRIAGE, answers_with, assert_fhir_response, assert_valid_r4, post_triage, response

STATIC_TOKENS = {
    "tok-all": ["system/*.*"],
    "tok-triage": ["system/QuestionnaireResponse.c"],
    "tok-v1-write": ["user/QuestionnaireResponse.write"],
    "tok-reader": ["system/CarePlan.rs", "system/Encounter.read", "system/QuestionnaireResponse.rs"],
    "tok-careplan-r": ["system/CarePlan.r"],
    "tok-subs": ["system/Subscription.*"],
    "tok-auditor": ["system/AuditEvent.rs"],
    "tok-p1": {"scopes": ["patient/*.read", "patient/QuestionnaireResponse.c"], "patient": "p1", "subject": "p1-app"},
    "tok-nothing": ["openid", "launch"],
    # Subscription creators with more or less authority over what their subscriptions would carry
    "tok-subs-careplan": ["system/Subscription.cruds", "system/CarePlan.rs"],
    "tok-subs-reader": ["system/Subscription.cruds", "system/CarePlan.rs", "system/Encounter.rs"],
    "tok-p1-subs": {"scopes": ["patient/*.read", "system/Subscription.c"], "patient": "p1", "subject": "p1-subs"},
}
SUBSCRIBERS = {"tok-all", "tok-subs", "tok-subs-careplan", "tok-subs-reader", "tok-p1-subs"}
SUBSCRIPTION_MANAGERS = {"tok-all", "tok-subs", "tok-subs-careplan", "tok-subs-reader"}
CAREPLAN_READERS = {
    "tok-all",
    "tok-reader",
    "tok-careplan-r",
    "tok-p1",
    "tok-subs-careplan",
    "tok-subs-reader",
    "tok-p1-subs",
}
ENCOUNTER_READERS = {"tok-all", "tok-reader", "tok-p1", "tok-subs-reader", "tok-p1-subs"}
RECEIVER = "http://127.0.0.1:9/hook"  # allowlisted below; nothing needs to listen (dispatchers are off)


@contextmanager
def app_client(database_url, **settings):
    settings = {"webhook_dispatcher": "off", "webhook_allowed_hosts": "127.0.0.1", **settings}
    app = create_app(Settings(database_url=database_url, auto_migrate=True, **settings))
    with TestClient(app) as client:
        yield client


@pytest.fixture
def static(app, database_url):
    from tests.conftest import _empty_tables

    _empty_tables(app)
    with app_client(database_url, auth_mode="static", auth_tokens=json.dumps(STATIC_TOKENS)) as client:
        yield client


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


def wait_for_audit(client, token="tok-all", at_least=1, until=None, **params):
    """The audit trail once it holds `at_least` records (and `until(bundle)` holds): records of
    reads are written after the answer. Each poll is itself audited, so a count alone can be
    reached by the polls before a slow write lands; `until` names what must be there."""
    deadline = time.monotonic() + 10
    while True:
        bundle = client.get("/fhir/AuditEvent", params={"_count": "200", **params}, headers=bearer(token)).json()
        if (bundle["total"] >= at_least and (until is None or until(bundle))) or time.monotonic() > deadline:
            return bundle
        time.sleep(0.05)


def interactions_and_outcomes(bundle):
    """(interaction, "HTTP nnn") of each audit record in an AuditEvent search Bundle."""
    return {(e["resource"]["subtype"][0]["code"], e["resource"]["outcomeDesc"]) for e in bundle.get("entry", ())}


# --- every mode and scope on every endpoint ---------------------------------------------


def _subscription(content, *filters):
    from tests.webhook_support import subscription_body

    return subscription_body(RECEIVER, content=content, filters=filters)


def _apply(qr, *extra):
    return {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "subject", "valueString": qr["subject"]["reference"]},
            {"name": "data", "resource": qr},
            *extra,
        ],
    }


def endpoints(ids):
    cp, enc, qr = ids
    return {
        # name: (method, path, body, tokens allowed)
        "triage": ("POST", TRIAGE, response(patient="p1"), {"tok-all", "tok-triage", "tok-v1-write", "tok-p1"}),
        "read CarePlan": ("GET", f"/fhir/CarePlan/{cp}", None, CAREPLAN_READERS),
        # HEAD is checked as the GET it mirrors
        "HEAD CarePlan": ("HEAD", f"/fhir/CarePlan/{cp}", None, CAREPLAN_READERS),
        "HEAD AuditEvent": ("HEAD", "/fhir/AuditEvent", None, {"tok-all", "tok-auditor"}),
        "read CarePlan page": ("GET", f"/fhir/CarePlan/{cp}?_format=html", None, CAREPLAN_READERS),
        "explain CarePlan": ("GET", f"/fhir/CarePlan/{cp}/$explain", None, CAREPLAN_READERS),
        "search CarePlan": (
            "GET",
            "/fhir/CarePlan",
            None,
            {"tok-all", "tok-reader", "tok-p1", "tok-subs-careplan", "tok-subs-reader", "tok-p1-subs"},
        ),
        "history CarePlan": ("GET", f"/fhir/CarePlan/{cp}/_history", None, CAREPLAN_READERS),
        "vread CarePlan": ("GET", f"/fhir/CarePlan/{cp}/_history/1", None, CAREPLAN_READERS),
        "history Encounter": ("GET", f"/fhir/Encounter/{enc}/_history", None, ENCOUNTER_READERS),
        "vread QuestionnaireResponse": (
            "GET",
            f"/fhir/QuestionnaireResponse/{qr}/_history/1",
            None,
            {"tok-all", "tok-reader", "tok-p1", "tok-p1-subs"},
        ),
        "read Encounter": ("GET", f"/fhir/Encounter/{enc}", None, ENCOUNTER_READERS),
        "search Encounter": ("GET", "/fhir/Encounter", None, ENCOUNTER_READERS),
        "read QuestionnaireResponse": (
            "GET",
            f"/fhir/QuestionnaireResponse/{qr}",
            None,
            {"tok-all", "tok-reader", "tok-p1", "tok-p1-subs"},
        ),
        "search QuestionnaireResponse": (
            "GET",
            "/fhir/QuestionnaireResponse",
            None,
            {"tok-all", "tok-reader", "tok-p1", "tok-p1-subs"},
        ),
        "create Subscription": ("POST", "/fhir/Subscription", {"resourceType": "Subscription"}, SUBSCRIBERS),
        # A subscription notifies only what its creator may read: CarePlans (the focus) for id-only,
        # CarePlans and Encounters for full-resource; a patient token's, only its patient's.
        "subscribe id-only": (
            "POST",
            "/fhir/Subscription",
            _subscription("id-only"),
            {"tok-all", "tok-subs-careplan", "tok-subs-reader", "tok-p1-subs"},
        ),
        "subscribe full-resource": (
            "POST",
            "/fhir/Subscription",
            _subscription("full-resource"),
            {"tok-all", "tok-subs-reader", "tok-p1-subs"},
        ),
        "subscribe to own patient": (
            "POST",
            "/fhir/Subscription",
            _subscription("full-resource", "CarePlan?patient=Patient/p1"),
            {"tok-all", "tok-subs-reader", "tok-p1-subs"},
        ),
        "subscribe to another patient": (
            "POST",
            "/fhir/Subscription",
            _subscription("id-only", "CarePlan?patient=Patient/p2"),
            {"tok-all", "tok-subs-careplan", "tok-subs-reader"},
        ),
        "search Subscription": ("GET", "/fhir/Subscription", None, SUBSCRIPTION_MANAGERS),
        "read Subscription": ("GET", "/fhir/Subscription/none", None, SUBSCRIPTION_MANAGERS),
        "delete Subscription": ("DELETE", "/fhir/Subscription/none", None, SUBSCRIPTION_MANAGERS),
        "resend Subscription": ("POST", "/fhir/Subscription/none/$resend", None, SUBSCRIPTION_MANAGERS),
        "search AuditEvent": ("GET", "/fhir/AuditEvent", None, {"tok-all", "tok-auditor"}),
        # $apply: the scope of $triage, whether it stores (persist) or not, since it reads the same PHI
        "apply PlanDefinition": (
            "POST",
            "/fhir/PlanDefinition/lbp-triage-rules-1.0.0/$apply",
            _apply(response(patient="p1")),
            {"tok-all", "tok-triage", "tok-v1-write", "tok-p1"},
        ),
        "apply PlanDefinition by url, stored": (
            "POST",
            "/fhir/PlanDefinition/$apply",
            _apply(
                response(patient="p1"),
                {"name": "url", "valueUri": f"{PLANDEFINITION_URL}|1.0.0"},
                {"name": "persist", "valueBoolean": True},
            ),
            {"tok-all", "tok-triage", "tok-v1-write", "tok-p1"},
        ),
        "PlanDefinition": ("GET", "/fhir/PlanDefinition/lbp-triage-rules-2.0.0", None, "public"),
        "search PlanDefinition": ("GET", f"/fhir/PlanDefinition?url={PLANDEFINITION_URL}", None, "public"),
        "ActivityDefinition": ("GET", "/fhir/ActivityDefinition/safety-net-2.0.0", None, "public"),
        "Library": ("GET", "/fhir/Library/lbp-triage-rules-2.0.0", None, "public"),
        "metadata": ("GET", "/fhir/metadata", None, "public"),
        "Questionnaire": ("GET", "/fhir/Questionnaire/lbp-triage", None, "public"),
        "CodeSystem": ("GET", "/fhir/CodeSystem/lbp-triage", None, "public"),
        "OperationDefinition": ("GET", "/fhir/OperationDefinition/QuestionnaireResponse-triage", None, "public"),
    }


def _check_table(client, bearer_for, names):
    made = post_triage(client, response(patient="p1"), **bearer_for("tok-all")).json()
    ids = (
        made["id"],
        made["encounter"]["reference"].split("/")[1],
        made["supportingInfo"][0]["reference"].split("/")[1],
    )
    failures = []
    for name, (method, path, body, allowed) in endpoints(ids).items():
        for token in [*names, None, "not-a-token"]:
            headers = {"Content-Type": "application/fhir+json", **(bearer_for(token) if token else {})}
            r = client.request(method, path, content=json.dumps(body) if body else None, headers=headers)
            if allowed == "public":
                expected_ok = True
            elif token is None or token == "not-a-token":
                if r.status_code != 401 or "Bearer" not in r.headers.get("www-authenticate", ""):
                    failures.append((name, token, r.status_code, "expected 401 with WWW-Authenticate"))
                continue
            else:
                expected_ok = token in allowed
            if expected_ok and r.status_code in (401, 403):
                failures.append((name, token, r.status_code, "expected access"))
            if not expected_ok and r.status_code != 403:
                failures.append((name, token, r.status_code, "expected 403"))
            if expected_ok and name.startswith("subscribe") and r.status_code != 201:
                failures.append((name, token, r.status_code, "expected 201"))
            if r.status_code in (401, 403) and method != "HEAD":  # a HEAD answer has no body
                assert_fhir_response(r, r.status_code, "OperationOutcome")
    assert not failures, failures


def test_every_static_token_on_every_endpoint(static):
    _check_table(static, bearer, list(STATIC_TOKENS))


def test_every_jwt_scope_set_on_every_endpoint(app, database_url, signing_key):
    """The same table with the same scopes carried by JWTs (patient/ ones with a patient claim)."""
    from tests.conftest import _empty_tables

    _empty_tables(app)
    minted = {}
    for name, grant in STATIC_TOKENS.items():
        grant = grant if isinstance(grant, dict) else {"scopes": grant}
        claims = {"patient": grant["patient"]} if grant.get("patient") else {}
        minted[name] = token(signing_key, scope=" ".join(grant["scopes"]), **claims)

    def jwt_bearer(name):
        return bearer(minted.get(name, name))

    pem = signing_key.as_pem(private=False).decode()
    with app_client(
        database_url, auth_mode="jwt", jwt_public_key=pem, jwt_issuer="https://auth.example", jwt_audience="lbp-triage"
    ) as client:
        _check_table(client, jwt_bearer, list(STATIC_TOKENS))


def test_none_mode_on_every_endpoint(app, database_url):
    """No tokens: every endpoint works for this machine's clients; others get 403 except the public ones."""
    application = create_app(
        Settings(
            database_url=database_url, auth_mode="none", webhook_dispatcher="off", webhook_allowed_hosts="127.0.0.1"
        )
    )
    with (
        TestClient(application, client=("127.0.0.1", 40000)) as local,
        TestClient(application, client=("198.51.100.9", 40000)) as remote,
    ):
        made = post_triage(local, response(patient="p1")).json()
        ids = (
            made["id"],
            made["encounter"]["reference"].split("/")[1],
            made["supportingInfo"][0]["reference"].split("/")[1],
        )
        for name, (method, path, body, allowed) in endpoints(ids).items():
            kwargs = {
                "content": json.dumps(body) if body else None,
                "headers": {"Content-Type": "application/fhir+json"},
            }
            near = local.request(method, path, **kwargs)
            assert near.status_code not in (401, 403), name
            assert near.status_code == 201 or not name.startswith("subscribe"), name
            far = remote.request(method, path, **kwargs)
            assert far.status_code == (200 if allowed == "public" else 403), name


def test_none_mode_serves_only_this_machine(app, database_url):
    application = create_app(Settings(database_url=database_url, auth_mode="none"))
    with TestClient(application, client=("203.0.113.7", 40000)) as remote:
        assert_fhir_response(remote.get("/fhir/CarePlan"), 403, "OperationOutcome")
        assert remote.get("/fhir/metadata").status_code == 200  # conformance stays public
    with TestClient(application, client=("127.0.0.1", 40000)) as local:
        assert local.get("/fhir/CarePlan").status_code == 200


def test_none_mode_says_so_loudly_at_start_up(database_url, caplog):
    with app_client(database_url, auth_mode="none"):
        pass
    assert any("AUTHENTICATION IS OFF" in r.getMessage() and r.levelname == "WARNING" for r in caplog.records)


# --- JWT ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def signing_key():
    return RSAKey.generate_key(2048, parameters={"kid": "key-1"})


def token(
    key, *, scope="system/CarePlan.rs", exp_in=300, iss="https://auth.example", aud="lbp-triage", alg="RS256", **claims
):
    payload = {"iss": iss, "aud": aud, "exp": int(time.time()) + exp_in, "sub": "client-1", "scope": scope, **claims}
    return jwt.encode({"alg": alg, "kid": key.kid}, payload, key)


@pytest.fixture
def jwt_client(app, database_url, signing_key):
    pem = signing_key.as_pem(private=False).decode()
    with app_client(
        database_url, auth_mode="jwt", jwt_public_key=pem, jwt_issuer="https://auth.example", jwt_audience="lbp-triage"
    ) as client:
        yield client


def _unsigned(claims):
    import base64

    def part(obj):
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}."


def _hs256_with(secret: bytes, claims):
    """The classic algorithm confusion: an HMAC token keyed with the server's public key."""
    import base64
    import hashlib
    import hmac

    def part(raw):
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    signing_input = f"{part(json.dumps({'alg': 'HS256', 'kid': 'key-1'}).encode())}.{part(json.dumps(claims).encode())}"
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{part(signature)}"


def test_jwt_tokens(jwt_client, signing_key):
    good = token(signing_key)
    assert jwt_client.get("/fhir/CarePlan", headers=bearer(good)).status_code == 200
    other_key = RSAKey.generate_key(2048, parameters={"kid": "key-1"})
    bad = {
        "expired": token(signing_key, exp_in=-120),
        "wrongly signed": token(other_key),
        "wrong audience": token(signing_key, aud="someone-else"),
        "wrong issuer": token(signing_key, iss="https://evil.example"),
        "alg none": _unsigned(
            {"iss": "https://auth.example", "aud": "lbp-triage", "exp": int(time.time()) + 300, "scope": "system/*.*"}
        ),
        "garbage": "abc.def.ghi",
        "HS256 keyed with the public key": _hs256_with(
            signing_key.as_pem(private=False),
            {"iss": "https://auth.example", "aud": "lbp-triage", "exp": int(time.time()) + 300, "scope": "system/*.*"},
        ),
    }
    for name, value in bad.items():
        r = jwt_client.get("/fhir/CarePlan", headers=bearer(value))
        assert r.status_code == 401, name
        assert r.headers["www-authenticate"].startswith("Bearer")
    r = jwt_client.get("/fhir/CarePlan", headers=bearer(token(signing_key, scope="system/Encounter.rs")))
    assert_fhir_response(r, 403, "OperationOutcome")


def test_jwt_with_jwks_url(app, database_url, signing_key):
    keys = json.dumps(KeySet([signing_key]).as_dict(private=False)).encode()

    class JWKS(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(keys)

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), JWKS)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with app_client(
            database_url,
            auth_mode="jwt",
            jwt_jwks_url=f"http://127.0.0.1:{server.server_port}/jwks",
            jwt_issuer="https://auth.example",
            jwt_audience="lbp-triage",
        ) as client:
            assert client.get("/fhir/CarePlan", headers=bearer(token(signing_key))).status_code == 200
            assert (
                client.get(
                    "/fhir/CarePlan", headers=bearer(token(RSAKey.generate_key(2048, parameters={"kid": "key-2"})))
                ).status_code
                == 401
            )
    finally:
        server.shutdown()


def test_patient_tokens_see_only_their_patient(static):
    mine = post_triage(static, response(patient="p1"), **bearer("tok-all")).json()
    theirs = post_triage(static, response(answers_with(saddle_numbness=True), patient="p2"), **bearer("tok-all")).json()
    p1 = bearer("tok-p1")
    found = static.get("/fhir/CarePlan", headers=p1).json()
    assert found["total"] == 1 and found["entry"][0]["resource"]["id"] == mine["id"]
    assert static.get("/fhir/CarePlan", params={"subject": "Patient/p2"}, headers=p1).json()["total"] == 0
    assert static.get("/fhir/Encounter", params={"patient": "p2"}, headers=p1).json()["total"] == 0
    assert_fhir_response(static.get(f"/fhir/CarePlan/{theirs['id']}", headers=p1), 404, "OperationOutcome")
    assert static.get(f"/fhir/CarePlan/{mine['id']}", headers=p1).status_code == 200
    encounter = theirs["encounter"]["reference"]
    assert static.get(f"/fhir/{encounter}", headers=p1).status_code == 404
    assert_fhir_response(post_triage(static, response(patient="p2"), **p1), 403, "OperationOutcome")
    assert post_triage(static, response(patient="p1"), **p1).status_code == 201
    # $apply, stored or not, only to the token's own patient
    apply = "/fhir/PlanDefinition/lbp-triage-rules-1.0.0/$apply"
    for extra in ((), ({"name": "persist", "valueBoolean": True},)):
        other = static.post(apply, json=_apply(response(patient="p2"), *extra), headers=p1)
        assert_fhir_response(other, 403, "OperationOutcome")
        assert "p2" not in other.text
        assert static.post(apply, json=_apply(response(patient="p1"), *extra), headers=p1).status_code in (200, 201)
    assert static.get("/fhir/Subscription", headers=p1).status_code == 403


def test_patient_tokens_cannot_fetch_another_patients_careplan_by_identifier(static):
    """Resubmitting (or If-None-Exist on) another patient's response identifier must not leak it:
    the patient token's own response is triaged as if the identifier were unknown (see
    tests/test_edges.py for the same answers side by side)."""
    theirs = response(patient="p2", identifier={"system": "urn:ehr", "value": "p2-resp"})
    original = post_triage(static, theirs, **bearer("tok-all")).json()
    p1 = bearer("tok-p1")
    replay = response(patient="p1", identifier={"system": "urn:ehr", "value": "p2-resp"})
    r = post_triage(static, replay, **p1)
    assert_fhir_response(r, 201, "CarePlan")
    assert "Patient/p2" not in r.text and r.json()["id"] != original["id"]
    r = post_triage(static, response(patient="p1"), **p1, **{"If-None-Exist": "identifier=urn:ehr|p2-resp"})
    # matches p1's own response under that identifier, which this body is not: 409, as for any caller
    assert_fhir_response(r, 409, "OperationOutcome")
    assert "p2" not in r.text and original["id"] not in r.text
    # nor may a patient token read another patient's history
    made = post_triage(static, theirs, **bearer("tok-all")).json()
    for path in (
        f"/fhir/CarePlan/{made['id']}/_history",
        f"/fhir/CarePlan/{made['id']}/_history/1",
        f"/fhir/{made['encounter']['reference']}/_history",
    ):
        assert_fhir_response(static.get(path, headers=p1), 404, "OperationOutcome")
        assert static.get(path, headers=bearer("tok-reader")).status_code == 200
    # the system token still gets the idempotent answer
    again = post_triage(static, theirs, **bearer("tok-all"))
    assert again.status_code == 200 and again.json()["id"] == original["id"]


def test_careplan_page_follows_the_json_reads_access_rules_and_audit(static):
    """The HTML page of a CarePlan: same scopes, same patient compartment, same audit trail."""
    mine = post_triage(static, response(patient="p1"), **bearer("tok-all")).json()
    theirs = post_triage(static, response(answers_with(saddle_numbness=True), patient="p2"), **bearer("tok-all")).json()
    p1 = bearer("tok-p1")
    for how in ({"params": {"_format": "html"}}, {"headers": {"Accept": "text/html"}}):
        headers = {**p1, **how.get("headers", {})}
        page = static.get(f"/fhir/CarePlan/{mine['id']}", params=how.get("params"), headers=headers)
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        refused = static.get(f"/fhir/CarePlan/{theirs['id']}", params=how.get("params"), headers=headers)
        assert_fhir_response(refused, 404, "OperationOutcome")
        assert "p2" not in refused.text and "Emergency" not in refused.text
        assert (
            static.get(
                f"/fhir/CarePlan/{mine['id']}",
                params=how.get("params"),
                headers={**bearer("tok-subs"), **how.get("headers", {})},
            ).status_code
            == 403
        )
        assert (
            static.get(
                f"/fhir/CarePlan/{mine['id']}", params=how.get("params"), headers=how.get("headers", {})
            ).status_code
            == 401
        )

    # audited as the JSON reads are: under the token's patient, the refused ones as failures
    def reads_in(bundle):
        return {
            (e["resource"]["entity"][0]["what"]["reference"], e["resource"]["outcome"])
            for e in bundle.get("entry", ())
            if e["resource"]["subtype"][0]["code"] == "read" and e["resource"].get("entity")
        }

    wanted = {(f"CarePlan/{mine['id']}", "0"), (f"CarePlan/{theirs['id']}", "4")}
    seen = reads_in(wait_for_audit(static, at_least=5, until=lambda b: wanted <= reads_in(b), patient="p1"))
    assert (f"CarePlan/{mine['id']}", "0") in seen
    assert (f"CarePlan/{theirs['id']}", "4") in seen


def test_none_mode_refuses_forwarded_requests(app, database_url):
    application = create_app(Settings(database_url=database_url, auth_mode="none"))
    with TestClient(application, client=("127.0.0.1", 40000)) as local:
        assert local.get("/fhir/CarePlan", headers={"X-Forwarded-For": "203.0.113.9"}).status_code == 403
        assert local.get("/fhir/CarePlan").status_code == 200


# --- the audit trail -------------------------------------------------------------------------


def test_every_access_is_audited(static):
    made = post_triage(static, response(patient="p7"), **bearer("tok-all")).json()
    static.get(f"/fhir/CarePlan/{made['id']}", headers=bearer("tok-reader"))
    static.get("/fhir/CarePlan", params={"patient": "p7"}, headers=bearer("tok-reader"))
    post_triage(static, response(answers_with(fever=None), patient="p7"), **bearer("tok-all"))  # 422
    static.get("/fhir/CarePlan", headers=bearer("tok-subs"))  # 403
    static.get("/fhir/CarePlan")  # 401
    static.post("/fhir/Subscription", json={"resourceType": "Subscription"}, headers=bearer("tok-subs"))
    expected = {
        ("create", "HTTP 201"),
        ("read", "HTTP 200"),
        ("search-type", "HTTP 200"),
        ("create", "HTTP 422"),
        ("search-type", "HTTP 403"),
        ("search-type", "HTTP 401"),
    }

    bundle = wait_for_audit(static, at_least=7, until=lambda b: expected <= interactions_and_outcomes(b))
    events = [e["resource"] for e in bundle["entry"]]
    for event in events:
        assert_valid_r4(event)
    assert expected <= interactions_and_outcomes(bundle)
    created = [e for e in events if e["outcomeDesc"] == "HTTP 201"]
    assert len(created) == 1  # written once, in the triage's transaction
    assert {"reference": "Patient/p7"} in [x["what"] for x in created[0]["entity"]]
    assert any(e["agent"][0]["who"]["display"] == "anonymous" for e in events)
    assert all(e["agent"][0]["network"]["address"] for e in events)
    p7 = static.get("/fhir/AuditEvent", params={"patient": "p7"}, headers=bearer("tok-auditor")).json()
    assert p7["total"] >= 3


def test_a_failed_triage_rolls_back_but_its_audit_record_survives(static, app):
    from sqlalchemy import insert

    from app.store.tables import AuditRecord, TriageEncounter
    from app.triage.deps import TriageServices, triage_services
    from app.triage.repository import EncounterRepository

    class FailingInside(EncounterRepository):
        def triage(self, row, judge, audit_for=None):
            with self.engine.begin() as connection:
                connection.execute(insert(TriageEncounter.__table__), row)
                audit = audit_for("create", row["response_id"]) if audit_for else None
                if audit is not None:
                    connection.execute(insert(AuditRecord.__table__), audit)
                raise RuntimeError("disk on fire")  # rolls back both

    real = services(static.app).triage
    failing = dataclasses.replace(real, repository=FailingInside(real.repository.engine, real.repository.outbox))

    async def failing_triage() -> TriageServices:
        return failing

    static.app.dependency_overrides[triage_services] = failing_triage
    try:
        c = TestClient(static.app, raise_server_exceptions=False)
        r = post_triage(c, response(patient="p9"), **bearer("tok-all"))
    finally:
        del static.app.dependency_overrides[triage_services]
    assert_fhir_response(r, 500, "OperationOutcome")
    assert static.get("/fhir/CarePlan", params={"patient": "p9"}, headers=bearer("tok-all")).json()["total"] == 0

    def creates_in(bundle):
        return [
            e["resource"]["outcomeDesc"]
            for e in bundle.get("entry", ())
            if e["resource"]["subtype"][0]["code"] == "create"
        ]

    outcomes = creates_in(wait_for_audit(static, at_least=1, until=creates_in, patient="p9"))
    assert outcomes == ["HTTP 500"]  # the failure is recorded; the rolled-back success is not


# --- limits, CORS ------------------------------------------------------------------------


def test_rate_limit_answers_429_with_retry_after(app, database_url):
    with app_client(
        database_url,
        auth_mode="static",
        auth_tokens=json.dumps(STATIC_TOKENS),
        rate_limit_per_minute=60,
        rate_limit_per_address_per_minute=6000,
    ) as client:
        statuses = [client.get("/fhir/CarePlan", headers=bearer("tok-reader")).status_code for _ in range(12)]
        assert statuses[:10] == [200] * 10 and statuses[-1] == 429
        r = client.get("/fhir/CarePlan", headers=bearer("tok-reader"))
        assert_fhir_response(r, 429, "OperationOutcome")
        assert int(r.headers["retry-after"]) >= 1
        assert client.get("/fhir/CarePlan", headers=bearer("tok-all")).status_code == 200  # per caller


def test_cors_closed_by_default_and_configurable(client, app, database_url):
    preflight = {"Origin": "https://app.example", "Access-Control-Request-Method": "POST"}
    assert "access-control-allow-origin" not in client.options(TRIAGE, headers=preflight).headers
    with app_client(database_url, cors_origins="https://app.example") as open_client:
        r = open_client.options(TRIAGE, headers=preflight)
        assert r.headers["access-control-allow-origin"] == "https://app.example"


def test_json_nested_too_deep_is_400(client):
    body = response()
    node = body["item"][0]["answer"][0]
    for _ in range(80):
        node["extension"] = [{"url": "http://x", "extension": []}]
        node = node["extension"][0]
    assert_fhir_response(post_triage(client, body), 400, "OperationOutcome")


def test_openapi_describes_bearer_security(client):
    spec = client.get("/openapi.json").json()
    assert spec["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    triage = spec["paths"]["/fhir/QuestionnaireResponse/$triage"]["post"]
    assert triage["security"] == [{"bearer": []}] and "QuestionnaireResponse.c" in triage["description"]
    assert "security" not in spec["paths"]["/fhir/metadata"]["get"]


def test_amendments_and_history_reads_are_audited_with_their_patient(static):
    ident = {"system": "urn:ehr", "value": "p8-resp"}
    post_triage(static, response(patient="p8", identifier=ident), **bearer("tok-all"))
    amended = response(answers_with(fever=True), patient="p8", identifier=ident, status="amended")
    made = assert_fhir_response(post_triage(static, amended, **bearer("tok-all")), 201, "CarePlan")
    replaced = made["replaces"][0]["reference"]
    static.get(f"/fhir/{replaced}/_history", headers=bearer("tok-reader"))
    static.get(f"/fhir/{replaced}/_history/1", headers=bearer("tok-reader"))
    expected = {("create", "HTTP 201"), ("update", "HTTP 201"), ("history-instance", "HTTP 200"), ("vread", "HTTP 200")}

    bundle = wait_for_audit(static, at_least=4, until=lambda b: expected <= interactions_and_outcomes(b), patient="p8")
    events = [e["resource"] for e in bundle["entry"]]
    assert expected <= interactions_and_outcomes(bundle)
    for event in events:
        assert_valid_r4(event)


def test_an_apply_that_stores_nothing_is_audited_as_the_operation_with_its_patient(static):
    got = static.post(
        "/fhir/PlanDefinition/lbp-triage-rules-1.0.0/$apply",
        json=_apply(response(patient="p8")),
        headers=bearer("tok-triage"),
    )
    assert got.status_code == 200 and "id" not in got.json()

    def applied(bundle):
        return [e["resource"] for e in bundle.get("entry", ()) if e["resource"]["subtype"][0]["code"] == "operation"]

    bundle = wait_for_audit(static, until=lambda b: applied(b), patient="p8")
    event = applied(bundle)[0]
    assert_valid_r4(event)
    assert event["action"] == "E" and event["outcomeDesc"] == "HTTP 200"
    what = [x["what"] for x in event["entity"]]
    assert {"reference": "Patient/p8"} in what and {"reference": "PlanDefinition/lbp-triage-rules-1.0.0"} in what
