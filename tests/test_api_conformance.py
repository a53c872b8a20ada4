"""Metadata, Questionnaire and CodeSystems over HTTP; health endpoints; the OpenAPI document."""

from app.fhir.canonical import QUESTIONNAIRE_URL
from app.webhooks.topics import RED_FLAG_DETECTED, TRIAGE_COMPLETED
from tests.support import assert_fhir_response, post_triage, response


def test_capability_statement_lists_exactly_what_works(client):
    cs = assert_fhir_response(client.get("/fhir/metadata"), 200, "CapabilityStatement")
    assert cs["fhirVersion"] == "4.0.1" and cs["kind"] == "instance"
    resources = {r["type"]: r for r in cs["rest"][0]["resource"]}
    assert set(resources) == {"CarePlan", "Encounter", "QuestionnaireResponse", "Questionnaire", "CodeSystem",
                              "OperationDefinition", "Subscription", "AuditEvent", "ValueSet"}
    assert "SMART" in cs["rest"][0]["security"]["description"] and cs["rest"][0]["security"]["cors"] is False
    subscription = resources.pop("Subscription")  # its interactions are proven in test_webhooks_api.py
    assert [i["code"] for i in subscription["interaction"]] == ["read", "delete", "create", "search-type"]
    assert [p["name"] for p in subscription["searchParam"]] == ["_id", "status", "_count"]
    assert [o["name"] for o in subscription["operation"]] == ["status", "deliveries", "resend"]
    assert {e["valueCanonical"] for e in subscription["extension"]} == {TRIAGE_COMPLETED, RED_FLAG_DETECTED}
    assert client.get("/fhir/Subscription", params={"status": "active"},
                      headers={"Prefer": "handling=strict"}).status_code == 200
    made = post_triage(client, response()).json()
    stored = {"CarePlan": made["id"], "Encounter": made["encounter"]["reference"].split("/")[1],
              "QuestionnaireResponse": made["supportingInfo"][0]["reference"].split("/")[1]}
    for rtype, r in resources.items():
        if rtype in stored:  # versioned: every version readable
            assert [i["code"] for i in r["interaction"]] == ["read", "vread", "history-instance", "search-type"]
            assert r["readHistory"] is True
            assert client.get(f"/fhir/{rtype}/{stored[rtype]}/_history").status_code == 200
            assert client.get(f"/fhir/{rtype}/{stored[rtype]}/_history/1").status_code == 200
        else:
            assert [i["code"] for i in r["interaction"]] == ["read", "search-type"]
        assert client.get(f"/fhir/{rtype}").status_code == 200  # search-type works
        for param in r["searchParam"]:
            if param["name"] not in ("url",):
                value = {"date": "ge2026-01-01", "authored": "ge2026-01-01", "category": "urgent",
                         "_count": "5", "patient": "x", "_id": "x"}.get(param["name"], "Patient/x")
                got = client.get(f"/fhir/{rtype}", params={param["name"]: value},
                                 headers={"Prefer": "handling=strict"})
                assert got.status_code == 200, (rtype, param["name"])
    assert resources["QuestionnaireResponse"]["operation"][0]["name"] == "triage"


def test_questionnaire_read_and_search_by_url(client):
    q = assert_fhir_response(client.get("/fhir/Questionnaire/lbp-triage"), 200, "Questionnaire")
    assert q["url"] == QUESTIONNAIRE_URL
    bundle = assert_fhir_response(client.get("/fhir/Questionnaire", params={"url": QUESTIONNAIRE_URL}), 200, "Bundle")
    assert bundle["total"] == 1 and bundle["entry"][0]["resource"]["id"] == "lbp-triage"
    assert client.get("/fhir/Questionnaire", params={"url": QUESTIONNAIRE_URL + "|9.9"}).json()["total"] == 0


def test_codesystems(client):
    for cs_id in ("lbp-triage", "lbp-triage-answers"):
        assert_fhir_response(client.get(f"/fhir/CodeSystem/{cs_id}"), 200, "CodeSystem")
    assert client.get("/fhir/CodeSystem").json()["total"] == 2


def test_health_endpoints(client):
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").json() == {"status": "ok"}


def test_openapi_speaks_fhir_and_offers_an_example_per_disposition(client):
    spec = client.get("/openapi.json").json()
    triage = spec["paths"]["/fhir/QuestionnaireResponse/$triage"]["post"]
    examples = triage["requestBody"]["content"]["application/fhir+json"]["examples"]
    assert set(examples) == {"emergency", "urgent", "doctor", "self-care"}
    assert "application/fhir+json" in triage["responses"]["201"]["content"]
    docs = client.get("/docs")
    assert docs.status_code == 200
    assert "cdn" not in docs.text.lower() and "/docs-assets/swagger-ui-bundle.js" in docs.text  # no internet needed
    assert client.get("/docs-assets/swagger-ui-bundle.js").status_code == 200
    assert client.get("/docs-assets/swagger-ui.css").status_code == 200
