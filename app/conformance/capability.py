"""The CapabilityStatement: exactly what this server does, no more, built from what is routed.

Every path under /fhir in the OpenAPI document is a FHIR interaction, read from its
method and path by the URL shapes of FHIR's RESTful API (http.html): GET /fhir/T/{id} is
`read` of T, GET /fhir/T is `search-type` (its parameters from the search table), a `$name`
segment is an operation (its OperationDefinition from app.conformance.operations), and so on. So a
new route is declared by being routed; a shape this module does not know, a search without a
parameter table or an operation without a definition fails loudly (and the conformance tests
with it). Routes that only refuse (405 answers) are kept out of the OpenAPI document, and so out
of here.
"""

from __future__ import annotations

from typing import Any

from app import __version__
from app.conformance.operations import OPERATIONS
from app.fhir.search import COUNT_DOCUMENTATION, SEARCH_PARAMETERS

TOPIC_CANONICAL_EXTENSION_URL = (
    "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/capabilitystatement-subscriptiontopic-canonical"
)
# (method, path after the type, with {…} for a variable) → interaction code
_SHAPES = {
    ("GET", ()): "search-type",
    ("POST", ()): "create",
    ("GET", ("{}",)): "read",
    ("PUT", ("{}",)): "update",
    ("PATCH", ("{}",)): "patch",
    ("DELETE", ("{}",)): "delete",
    ("GET", ("{}", "_history")): "history-instance",
    ("GET", ("{}", "_history", "{}")): "vread",
    ("GET", ("_history",)): "history-type",
}
_ORDER = ("read", "vread", "update", "patch", "delete", "history-instance", "history-type", "create", "search-type")
_HTTP_METHODS = ("get", "put", "post", "delete", "patch")
# the capabilities interaction itself, and SMART discovery (a .well-known document, not a resource)
_SYSTEM_PATHS = ("/fhir/metadata", "/fhir/.well-known/smart-configuration")
_VERSIONED = {"CarePlan", "Encounter", "QuestionnaireResponse", "Subscription"}
_DOCUMENTATION = {
    "CarePlan": "The plan each triage made: disposition (category), findings and activities.",
    "Encounter": "The record of each triage encounter.",
    "QuestionnaireResponse": "The answers each triage was made from, as stored.",
    "Questionnaire": "The triage Questionnaire: versions 2.0.0 (id lbp-triage, current) and 1.0.0 (id "
    "lbp-triage-1.0.0). A response is triaged by the rules of the version it names in "
    "QuestionnaireResponse.questionnaire, by the current one without a version.",
    "CodeSystem": "The code systems of the triage.",
    "OperationDefinition": "The operations this server offers.",
    "PlanDefinition": "The triage rules, one per rules version (lbp-triage-rules-2.0.0, current, and "
    "lbp-triage-rules-1.0.0): the canonical each CarePlan names in instantiatesCanonical. $apply runs them "
    "on a QuestionnaireResponse without storing (persist=true stores, as $triage).",
    "ActivityDefinition": "The activities a plan may hold, one per activity code and rules version.",
    "Library": "Every rule of a rules version in words, generated from the rules tables.",
    "AuditEvent": "The audit trail (scope system/AuditEvent.rs).",
    "ValueSet": "The value sets the CDS Hooks services use (lbp-lumbar-imaging).",
}


def routed_interactions(openapi_paths: dict[str, dict[str, Any]]) -> dict[str, dict[str, list[str]]]:
    """resource type → {"interaction": [...], "operation": [...]}, in the order routed, read from
    the paths of the OpenAPI document (which lists every route but the refusals)."""
    found: dict[str, dict[str, list[str]]] = {}
    for path, operations in openapi_paths.items():
        if not path.startswith("/fhir/") or path in _SYSTEM_PATHS:
            continue
        resource_type, *rest = path.removeprefix("/fhir/").split("/")
        shape = tuple("{}" if part.startswith("{") else part for part in rest)
        entry = found.setdefault(resource_type, {"interaction": [], "operation": []})
        for method in (m.upper() for m in operations if m in _HTTP_METHODS):
            if shape and shape[-1].startswith("$") and shape[:-1] in ((), ("{}",)):
                kind, name = "operation", shape[-1][1:]
            elif (method, shape) in _SHAPES:
                kind, name = "interaction", _SHAPES[(method, shape)]
            else:
                raise LookupError(f"{method} {path} is no FHIR interaction the CapabilityStatement knows")
            if name not in entry[kind]:
                entry[kind].append(name)
    return found


def _search_params(resource_type: str) -> list[dict[str, Any]]:
    params = [
        {"name": name, "type": param.type, "documentation": param.documentation}
        for name, param in SEARCH_PARAMETERS[resource_type].items()
    ]
    params.append({"name": "_count", "type": "number", "documentation": COUNT_DOCUMENTATION})
    return params


def _subscription_extras() -> dict[str, Any]:
    from app.subscriptions.resources import SUBSCRIPTION_PROFILE
    from app.subscriptions.topics import TOPICS

    return {
        "extension": [{"url": TOPIC_CANONICAL_EXTENSION_URL, "valueCanonical": topic} for topic in TOPICS],
        "supportedProfile": [SUBSCRIPTION_PROFILE],
        "documentation": "Webhooks (Subscriptions Backport IG, rest-hook channel, id-only or full-resource "
        "payloads), signed per Standard Webhooks; topics: " + ", ".join(TOPICS) + ".",
    }


def _resource(resource_type: str, routed: dict[str, list[str]]) -> dict[str, Any]:
    resource: dict[str, Any] = {"type": resource_type}
    if resource_type == "Subscription":
        resource.update(_subscription_extras())
    elif resource_type in _DOCUMENTATION:
        resource["documentation"] = _DOCUMENTATION[resource_type]
    codes = sorted(routed["interaction"], key=_ORDER.index)
    if codes:  # FHIR JSON has no empty arrays
        resource["interaction"] = [{"code": code} for code in codes]
    if resource_type in _VERSIONED:
        resource.update({"versioning": "versioned", "readHistory": "vread" in codes, "updateCreate": False})
    if "search-type" in codes:
        resource["searchParam"] = _search_params(resource_type)
    if routed["operation"]:
        resource["operation"] = []
        for name in routed["operation"]:
            definition = OPERATIONS.get((resource_type, name))
            if definition is None:
                raise LookupError(f"{resource_type}/${name} is routed but has no OperationDefinition")
            resource["operation"].append(
                {"name": name, "definition": definition["url"], "documentation": definition["description"]}
            )
    return resource


def _security(auth_mode: str, cors: bool) -> dict[str, Any]:
    words = {
        "none": "Authentication is off (development mode): only clients on the server's own machine are served.",
        "static": "Bearer tokens issued by the operator, each with SMART scopes.",
        "jwt": "Bearer JWTs from the configured authorization server; scopes from the `scope` claim, "
        "a patient-level token's patient from the `patient` claim.",
    }[auth_mode]
    security: dict[str, Any] = {
        "cors": cors,
        "description": f"{words} SMART App Launch scopes (v1 or v2): system/, user/ or patient/ + "
        "QuestionnaireResponse.c ($triage), CarePlan|Encounter|QuestionnaireResponse.rs, Subscription.cruds, "
        "AuditEvent.rs. PlanDefinition/$apply takes the scope of $triage (QuestionnaireResponse.c), stored or "
        "not. patient/ scopes see only their own patient. Metadata, Questionnaire, CodeSystem, ValueSet, "
        "OperationDefinition, PlanDefinition, ActivityDefinition and Library are public.",
    }
    if auth_mode != "none":
        security["service"] = [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/restful-security-service",
                        "code": "SMART-on-FHIR",
                        "display": "SMART-on-FHIR",
                    }
                ]
            }
        ]
    return security


def capability_statement(
    openapi_paths: dict[str, dict[str, Any]],
    base_url: str,
    software_date: str = "2026-11-25",
    auth_mode: str = "none",
    cors: bool = False,
) -> dict[str, Any]:
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": software_date,
        "publisher": "lbp-triage",
        "kind": "instance",
        "software": {"name": "lbp-triage", "version": __version__},
        "implementation": {"description": "Low back pain triage service", "url": base_url},
        "fhirVersion": "4.0.1",
        "format": ["json", "application/fhir+json"],
        "rest": [
            {
                "mode": "server",
                "security": _security(auth_mode, cors),
                "documentation": "Triage a QuestionnaireResponse with POST QuestionnaireResponse/$triage "
                "(or PlanDefinition/$apply, which stores nothing unless persist=true); "
                "read and search the CarePlans, Encounters and QuestionnaireResponses it stores; "
                "subscribe to triage events (webhooks) with Subscription. Searches refuse (400) a "
                "parameter, modifier or chain they do not support, unless sent with "
                "Prefer: handling=lenient.",
                "resource": [
                    _resource(resource_type, routed)
                    for resource_type, routed in routed_interactions(openapi_paths).items()
                ],
            }
        ],
    }
