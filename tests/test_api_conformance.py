"""Metadata, Questionnaire and CodeSystems over HTTP; health endpoints; the OpenAPI document."""

from app.fhir.canonical import QUESTIONNAIRE_URL
from app.subscriptions.topics import RED_FLAG_DETECTED, TRIAGE_COMPLETED
from tests.support import assert_fhir_response, post_triage, response


def test_capability_statement_lists_exactly_what_works(client):
    cs = assert_fhir_response(client.get("/fhir/metadata"), 200, "CapabilityStatement")
    assert cs["fhirVersion"] == "4.0.1" and cs["kind"] == "instance"
    resources = {r["type"]: r for r in cs["rest"][0]["resource"]}
    assert set(resources) == {
        "CarePlan",
        "Encounter",
        "QuestionnaireResponse",
        "Questionnaire",
        "CodeSystem",
        "OperationDefinition",
        "Subscription",
        "AuditEvent",
        "ValueSet",
        "PlanDefinition",
        "ActivityDefinition",
        "Library",
    }
    assert "SMART" in cs["rest"][0]["security"]["description"] and cs["rest"][0]["security"]["cors"] is False
    subscription = resources.pop("Subscription")  # its interactions are proven in test_webhooks_api.py
    assert [i["code"] for i in subscription["interaction"]] == ["read", "delete", "create", "search-type"]
    assert [p["name"] for p in subscription["searchParam"]] == ["_id", "status", "_count"]
    assert [o["name"] for o in subscription["operation"]] == ["status", "deliveries", "resend"]
    assert {e["valueCanonical"] for e in subscription["extension"]} == {TRIAGE_COMPLETED, RED_FLAG_DETECTED}
    assert (
        client.get("/fhir/Subscription", params={"status": "active"}, headers={"Prefer": "handling=strict"}).status_code
        == 200
    )
    made = post_triage(client, response()).json()
    stored = {
        "CarePlan": made["id"],
        "Encounter": made["encounter"]["reference"].split("/")[1],
        "QuestionnaireResponse": made["supportingInfo"][0]["reference"].split("/")[1],
    }
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
                value = {
                    "date": "ge2026-01-01",
                    "authored": "ge2026-01-01",
                    "category": "urgent",
                    "_count": "5",
                    "patient": "x",
                    "_id": "x",
                }.get(param["name"], "Patient/x")
                got = client.get(f"/fhir/{rtype}", params={param["name"]: value}, headers={"Prefer": "handling=strict"})
                assert got.status_code == 200, (rtype, param["name"])
    assert resources["QuestionnaireResponse"]["operation"][0]["name"] == "triage"
    assert [o["name"] for o in resources["PlanDefinition"]["operation"]] == ["apply"]


def test_questionnaire_read_and_search_by_url(client):
    q = assert_fhir_response(client.get("/fhir/Questionnaire/lbp-triage"), 200, "Questionnaire")
    assert q["url"] == QUESTIONNAIRE_URL
    assert q["version"] == "2.0.0"  # the plain read gives the current version
    bundle = assert_fhir_response(client.get("/fhir/Questionnaire", params={"url": QUESTIONNAIRE_URL}), 200, "Bundle")
    # every version served answers a search by url, the current first
    assert [e["resource"]["version"] for e in bundle["entry"]] == ["2.0.0", "1.0.0"]
    assert client.get("/fhir/Questionnaire", params={"url": QUESTIONNAIRE_URL + "|9.9"}).json()["total"] == 0


def test_both_questionnaire_versions_are_served(client):
    for query in ({"url": QUESTIONNAIRE_URL + "|1.0.0"}, {"url": QUESTIONNAIRE_URL, "version": "1.0.0"}):
        bundle = assert_fhir_response(client.get("/fhir/Questionnaire", params=query), 200, "Bundle")
        assert bundle["total"] == 1 and bundle["entry"][0]["resource"]["id"] == "lbp-triage-1.0.0"
    bundle = client.get("/fhir/Questionnaire", params={"url": QUESTIONNAIRE_URL, "version": "2.0.0"}).json()
    assert [e["resource"]["id"] for e in bundle["entry"]] == ["lbp-triage"]
    v1 = assert_fhir_response(client.get("/fhir/Questionnaire/lbp-triage-1.0.0"), 200, "Questionnaire")
    assert v1["version"] == "1.0.0" and v1["url"] == QUESTIONNAIRE_URL
    linkids = {i["linkId"] for g in v1["item"] for i in g["item"]}
    assert "steroid-use" in linkids and "steroid-long-term" not in linkids
    assert client.get("/fhir/Questionnaire/lbp-triage-9.9.9").status_code == 404


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
    assert {"emergency", "urgent", "doctor-soon", "doctor", "self-care", "startback-high-risk"} <= set(examples)
    assert {"v1-emergency", "v1-urgent", "v1-doctor", "v1-self-care"} <= set(examples)
    assert "application/fhir+json" in triage["responses"]["201"]["content"]
    docs = client.get("/docs")
    assert docs.status_code == 200
    assert "cdn" not in docs.text.lower() and "/docs-assets/swagger-ui-bundle.js" in docs.text  # no internet needed
    assert client.get("/docs-assets/swagger-ui-bundle.js").status_code == 200
    assert client.get("/docs-assets/swagger-ui.css").status_code == 200
