"""SMART App Launch discovery in jwt mode: /.well-known/smart-configuration (server root and
/fhir) and the CapabilityStatement's oauth-uris extension, from the smart_* settings (LBP_SMART_AUTHORIZE_URL, LBP_SMART_TOKEN_URL, …); and
the SMART client library (fhirclient) finding the authorize URL on a live server."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from joserfc.jwk import RSAKey

from app.main import create_app
from app.security.smart import OAUTH_URIS
from app.settings import Settings
from tests.cds_support import live
from tests.support import assert_fhir_response, assert_valid_r4

AUTHORIZE = "https://auth.example.org/oauth2/authorize"
TOKEN = "https://auth.example.org/oauth2/token"


@pytest.fixture(scope="module")
def jwt_settings(database_url):
    key = RSAKey.generate_key(2048, parameters={"kid": "k"})
    return dict(
        database_url=database_url,
        auto_migrate=True,
        webhook_dispatcher="off",
        auth_mode="jwt",
        jwt_public_key=key.as_pem(private=False).decode(),
        jwt_issuer="https://auth.example.org",
        jwt_audience="lbp-triage",
    )


@pytest.fixture(scope="module")
def smart_app(jwt_settings):
    return create_app(
        Settings(
            **jwt_settings,
            smart_authorize_url=AUTHORIZE,
            smart_token_url=TOKEN,
            smart_revocation_url="https://auth.example.org/oauth2/revoke",
        )
    )


def test_smart_configuration_at_the_root_and_under_fhir(smart_app):
    with TestClient(smart_app, client=("198.51.100.9", 40000)) as remote:  # public: no token, any client
        for path in ("/.well-known/smart-configuration", "/fhir/.well-known/smart-configuration"):
            answer = remote.get(path)
            assert answer.status_code == 200, path
            config = answer.json()
            assert config["authorization_endpoint"] == AUTHORIZE and config["token_endpoint"] == TOKEN
            assert config["revocation_endpoint"] == "https://auth.example.org/oauth2/revoke"
            assert config["issuer"] == "https://auth.example.org"
            assert "S256" in config["code_challenge_methods_supported"]
            assert {"launch-ehr", "launch-standalone", "permission-v2"} <= set(config["capabilities"])
            assert config["grant_types_supported"]


def test_capability_statement_names_the_oauth_uris(smart_app):
    with TestClient(smart_app) as client:
        statement = assert_fhir_response(client.get("/fhir/metadata"), 200, "CapabilityStatement")
    security = statement["rest"][0]["security"]
    (oauth,) = [e for e in security["extension"] if e["url"] == OAUTH_URIS]
    uris = {e["url"]: e["valueUri"] for e in oauth["extension"]}
    assert uris == {"authorize": AUTHORIZE, "token": TOKEN, "revoke": "https://auth.example.org/oauth2/revoke"}
    assert_valid_r4(statement)


def test_no_smart_discovery_without_an_authorization_server(jwt_settings, database_url):
    for settings in (
        Settings(**jwt_settings),
        Settings(database_url=database_url, auth_mode="none", smart_authorize_url=AUTHORIZE, smart_token_url=TOKEN),
    ):
        with TestClient(create_app(settings)) as client:
            assert_fhir_response(client.get("/.well-known/smart-configuration"), 404, "OperationOutcome")
            assert_fhir_response(client.get("/fhir/.well-known/smart-configuration"), 404, "OperationOutcome")
            security = client.get("/fhir/metadata").json()["rest"][0]["security"]
            assert "extension" not in security


def test_fhirclient_finds_the_authorize_url(smart_app):
    from fhirclient import client as fhirclient

    with live(smart_app) as base:
        smart = fhirclient.FHIRClient(
            settings={
                "app_id": "lbp-test-app",
                "api_base": f"{base}/fhir",
                "redirect_uri": "https://app.example.org/callback",
            }
        )
        url = smart.authorize_url
    assert url is not None and url.startswith(AUTHORIZE + "?")
    assert "client_id=lbp-test-app" in url and f"aud={base}/fhir".replace(":", "%3A").replace("/", "%2F") in url
