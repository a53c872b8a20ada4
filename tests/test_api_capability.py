"""The CapabilityStatement tells the truth: everything it declares answers (no 404/405), every
FHIR route is declared, every OperationDefinition it names is served and valid R4. HEAD works
wherever GET does. Swagger UI's examples triage anew on every Execute."""

import re

import pytest
from fastapi.routing import APIRoute, iter_route_contexts

from app.fhir.canonical import PLANDEFINITION_URL
from tests.support import FHIR_JSON, TRIAGE, assert_fhir_response, assert_valid_r4, post_triage, response
from tests.support_v2 import response_v2
from tests.webhook_support import subscription_body

RECEIVER = "http://127.0.0.1:9/hook"  # allowlisted in the test app; nothing listens
# A sample value per search parameter type (tokens by name: each has its own vocabulary).
SAMPLE_VALUES = {"reference": "Patient/p1", "date": "ge2026-01-01", "number": "5", "uri": "https://example.org/x"}
SAMPLE_TOKENS = {"_id": "no-such-id", "category": "urgent", "status": "active", "version": "2.0.0"}
# Bodies for interactions and operations that take one; a new one without a sample fails below.
CREATE_BODIES = {"Subscription": lambda: subscription_body(RECEIVER)}
OPERATION_BODIES = {
    "triage": lambda: response(patient="p1"),
    # the current rules, by url at the type level and by the instance's own url|version at the instance level
    "apply": lambda: {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "subject", "valueString": "Patient/p1"},
            {"name": "data", "resource": response_v2(patient="p1")},
            {"name": "url", "valueUri": f"{PLANDEFINITION_URL}|2.0.0"},
        ],
    },
}
KNOWN_IDS: dict[str, str] = {}  # resource type → an id that exists, for types that cannot be searched


@pytest.fixture
def populated(client):
    """One of each stored resource, so that reads and instance operations have a target."""
    post_triage(client, response(patient="p1"))
    client.post("/fhir/Subscription", json=subscription_body(RECEIVER), headers={"Content-Type": FHIR_JSON})
    return client


def _declared(client):
    cs = assert_fhir_response(client.get("/fhir/metadata"), 200, "CapabilityStatement")
    assert_valid_r4(cs)
    return {r["type"]: r for r in cs["rest"][0]["resource"]}


def _some_id(client, rtype):
    """An id to read: the first one a search finds (a type with reads but no search: add it to KNOWN_IDS)."""
    if rtype in KNOWN_IDS:
        return KNOWN_IDS[rtype]
    for _ in range(50):  # audit records are written just after the answer that caused them
        bundle = client.get(f"/fhir/{rtype}").json()
        if bundle.get("entry"):
            return bundle["entry"][0]["resource"]["id"]
        client.get("/fhir/metadata")
    raise AssertionError(f"no {rtype} to read: make one in the `populated` fixture, or add it to KNOWN_IDS")


def test_every_declared_interaction_search_parameter_and_operation_answers(populated):
    client = populated
    for rtype, declared in _declared(client).items():
        for interaction in [i["code"] for i in declared["interaction"]]:
            if interaction == "read":
                got = client.get(f"/fhir/{rtype}/{_some_id(client, rtype)}")
            elif interaction == "search-type":
                got = client.get(f"/fhir/{rtype}")
            elif interaction == "create":
                got = client.post(f"/fhir/{rtype}", json=CREATE_BODIES[rtype](), headers={"Content-Type": FHIR_JSON})
            elif interaction == "delete":
                got = client.delete(f"/fhir/{rtype}/{_some_id(client, rtype)}")
            elif interaction == "history-instance":
                got = client.get(f"/fhir/{rtype}/{_some_id(client, rtype)}/_history")
            elif interaction == "vread":
                some = client.get(f"/fhir/{rtype}/{_some_id(client, rtype)}").json()
                got = client.get(f"/fhir/{rtype}/{some['id']}/_history/{some['meta']['versionId']}")
            else:
                raise AssertionError(f"no way to call {interaction} here yet: add one")
            assert got.status_code < 300, (rtype, interaction, got.status_code, got.text[:300])
        assert "conditionalCreate" not in declared or "create" in [i["code"] for i in declared["interaction"]]
        for param in declared.get("searchParam", []):
            value = SAMPLE_TOKENS[param["name"]] if param["type"] == "token" else SAMPLE_VALUES[param["type"]]
            got = client.get(f"/fhir/{rtype}", params={param["name"]: value}, headers={"Prefer": "handling=strict"})
            assert got.status_code == 200, (rtype, param["name"], got.text[:300])
        for operation in declared.get("operation", []):
            definition_id = operation["definition"].rsplit("/", 1)[1]
            definition = assert_fhir_response(
                client.get(f"/fhir/OperationDefinition/{definition_id}"), 200, "OperationDefinition"
            )
            assert_valid_r4(definition)
            assert definition["url"] == operation["definition"] and definition["code"] == operation["name"]
            assert rtype in definition["resource"]
            by_url = client.get("/fhir/OperationDefinition", params={"url": operation["definition"]}).json()
            assert [e["resource"]["id"] for e in by_url["entry"]] == [definition_id]
            body = OPERATION_BODIES.get(operation["name"])
            method = "GET" if not definition["affectsState"] and body is None else "POST"
            kwargs = {"json": body(), "headers": {"Content-Type": FHIR_JSON}} if body else {}
            targets = ([f"/fhir/{rtype}/${operation['name']}"] if definition["type"] else []) + (
                [f"/fhir/{rtype}/{_some_id(client, rtype)}/${operation['name']}"] if definition["instance"] else []
            )
            assert targets, operation
            for target in targets:
                got = client.request(method, target, **kwargs)
                assert got.status_code < 300, (target, got.status_code, got.text[:300])


def test_no_create_is_declared_where_there_is_none(client):
    qr = _declared(client)["QuestionnaireResponse"]
    assert "conditionalCreate" not in qr and "create" not in [i["code"] for i in qr["interaction"]]
    assert (
        client.post("/fhir/QuestionnaireResponse", json=response(), headers={"Content-Type": FHIR_JSON}).status_code
        == 405
    )


# The FHIR RESTful API's URL shapes (https://hl7.org/fhir/R4/http.html), written here apart from
# the application so that the test does not merely repeat what the server believes.
ROUTE_SHAPES = [
    ("GET", r"/fhir/metadata", None),
    ("GET", r"/fhir/\.well-known/smart-configuration", None),  # SMART App Launch discovery, not a resource
    ("GET", r"/fhir/(?P<type>[A-Z]\w+)/\{[^}]+\}", "read"),
    ("GET", r"/fhir/(?P<type>[A-Z]\w+)", "search-type"),
    ("POST", r"/fhir/(?P<type>[A-Z]\w+)", "create"),
    ("PUT", r"/fhir/(?P<type>[A-Z]\w+)/\{[^}]+\}", "update"),
    ("DELETE", r"/fhir/(?P<type>[A-Z]\w+)/\{[^}]+\}", "delete"),
    ("GET", r"/fhir/(?P<type>[A-Z]\w+)/\{[^}]+\}/_history", "history-instance"),
    ("GET", r"/fhir/(?P<type>[A-Z]\w+)/\{[^}]+\}/_history/\{[^}]+\}", "vread"),
    ("GET", r"/fhir/(?P<type>[A-Z]\w+)/_history", "history-type"),
    ("GET|POST", r"/fhir/(?P<type>[A-Z]\w+)(?:/\{[^}]+\})?/\$(?P<operation>[\w-]+)", "operation"),
]


def _fhir_routes(app):
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        if isinstance(route, APIRoute) and context.path.startswith("/fhir") and route.include_in_schema:
            for method in context.methods:
                yield method, context.path


def test_every_routed_fhir_interaction_is_declared(app, client):
    declared = _declared(client)
    routes = list(_fhir_routes(app))
    assert len(routes) >= 15
    for method, path in routes:
        shape = next(
            (
                (m, kind)
                for verbs, pattern, kind in ROUTE_SHAPES
                if method in verbs.split("|") and (m := re.fullmatch(pattern, path))
            ),
            None,
        )
        assert shape is not None, f"{method} {path} is not a FHIR RESTful interaction"
        found, kind = shape
        if kind is None:
            continue
        rtype = found["type"]
        assert rtype in declared, f"{method} {path}: {rtype} is not in the CapabilityStatement"
        if kind == "operation":
            names = [o["name"] for o in declared[rtype].get("operation", [])]
            assert found["operation"] in names, f"{method} {path}: ${found['operation']} is not declared"
        else:
            codes = [i["code"] for i in declared[rtype]["interaction"]]
            assert kind in codes, f"{method} {path}: {kind} of {rtype} is not declared"
    # and nothing is declared that has no route (the call-everything test proves it answers)
    routed_types = {m.group(1) for _, p in routes if (m := re.match(r"/fhir/([A-Z]\w+)", p))}
    assert set(declared) == routed_types


@pytest.mark.parametrize(
    "path",
    [
        "/fhir/metadata",
        "/fhir/Questionnaire/lbp-triage",
        "/fhir/Questionnaire",
        "/fhir/CodeSystem/lbp-triage",
        "/fhir/OperationDefinition",
        "/fhir/CarePlan",
        "/fhir/Encounter",
        "/fhir/QuestionnaireResponse",
        "/fhir/Subscription",
        "/fhir/AuditEvent",
        "/healthz",
        "/readyz",
        "/metrics",
    ],
)
def test_head_answers_wherever_get_does(client, path):
    got, head = client.get(path), client.head(path)
    assert head.status_code == got.status_code == 200, (path, head.status_code)
    assert head.content == b""
    assert head.headers["content-type"] == got.headers["content-type"]
    assert "content-length" in head.headers


def test_head_on_a_read_keeps_etag_and_not_found(client):
    careplan = post_triage(client, response()).json()
    head = client.head(f"/fhir/CarePlan/{careplan['id']}")
    assert head.status_code == 200 and head.headers["etag"] == 'W/"1"' and head.content == b""
    assert client.head("/fhir/CarePlan/no-such-plan").status_code == 404
    refused = client.head(TRIAGE)  # no GET there either
    assert refused.status_code == 405 and refused.headers["allow"] == "POST"
    assert client.put("/fhir/metadata").headers["allow"] == "GET, HEAD"
    assert client.put("/fhir/Subscription/x").headers["allow"] == "GET, HEAD, DELETE"


def test_swagger_examples_triage_anew_on_every_execute(client):
    spec = client.get("/openapi.json").json()
    triage = spec["paths"]["/fhir/QuestionnaireResponse/$triage"]["post"]
    examples = triage["requestBody"]["content"]["application/fhir+json"]["examples"]
    for name, example in examples.items():
        body = example["value"]
        assert "identifier" not in body, name
        first, again = post_triage(client, body), post_triage(client, body)
        assert first.status_code == again.status_code == 201, name
        assert first.json()["id"] != again.json()["id"]
        # named by the disposition they show (rules 1 examples as v1-…); the STarT Back one is self-care
        expected = {"startback-high-risk": "self-care"}.get(name, name.removeprefix("v1-"))
        assert first.json()["category"][0]["coding"][0]["code"] == expected, name
    assert "identifier" in triage["description"]
