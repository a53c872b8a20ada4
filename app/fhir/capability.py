"""The CapabilityStatement: exactly what this server does, no more."""

from __future__ import annotations

from typing import Any

from app import __version__
from app.fhir.canonical import BASE, QUESTIONNAIRE_URL
from app.fhir.search import PARAMETER_DOCS, SEARCH_PARAMETERS

TRIAGE_OPERATION_URL = f"{BASE}/OperationDefinition/QuestionnaireResponse-triage"
EXPLAIN_OPERATION_URL = f"{BASE}/OperationDefinition/CarePlan-explain"
SUBSCRIPTION_STATUS_OPERATION_URL = (
    "http://hl7.org/fhir/uv/subscriptions-backport/OperationDefinition/backport-subscription-status")
DELIVERIES_OPERATION_URL = f"{BASE}/OperationDefinition/Subscription-deliveries"
RESEND_OPERATION_URL = f"{BASE}/OperationDefinition/Subscription-resend"
TOPIC_CANONICAL_EXTENSION_URL = (
    "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/capabilitystatement-subscriptiontopic-canonical")
_SP_TYPE = {"reference": "reference", "date": "date", "token": "token"}


def _search_params(resource_type: str) -> list[dict[str, Any]]:
    params = [
        {"name": name, "type": _SP_TYPE[kind], "documentation": PARAMETER_DOCS[name]}
        for name, kind in SEARCH_PARAMETERS[resource_type].items()
    ]
    params.append({"name": "_count", "type": "number", "documentation": "Page size (newest first)."})
    return params


def _stored(resource_type: str, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "type": resource_type,
        "interaction": [{"code": "read"}, {"code": "search-type"}],
        "versioning": "versioned",
        "readHistory": False,
        "updateCreate": False,
        "searchParam": _search_params(resource_type),
    }
    if extra:
        resource.update(extra)
    return resource


def _subscription() -> dict[str, Any]:
    from app.webhooks.resources import SUBSCRIPTION_PROFILE
    from app.webhooks.topics import TOPICS

    return {
        "extension": [{"url": TOPIC_CANONICAL_EXTENSION_URL, "valueCanonical": topic} for topic in TOPICS],
        "type": "Subscription",
        "supportedProfile": [SUBSCRIPTION_PROFILE],
        "documentation": "Webhooks (Subscriptions Backport IG, rest-hook channel, id-only or full-resource "
        "payloads), signed per Standard Webhooks; topics: " + ", ".join(TOPICS) + ".",
        "interaction": [{"code": "create"}, {"code": "read"}, {"code": "delete"}, {"code": "search-type"}],
        "versioning": "versioned",
        "readHistory": False,
        "updateCreate": False,
        "searchParam": [{"name": "status", "type": "token",
                         "documentation": "requested, active, error or off (several: any of them)."}],
        "operation": [
            {"name": "status", "definition": SUBSCRIPTION_STATUS_OPERATION_URL,
             "documentation": "The subscription-status Parameters (R4 backport) of one or more subscriptions."},
            {"name": "deliveries", "definition": DELIVERIES_OPERATION_URL,
             "documentation": "The delivery log of a subscription (state=dead lists those out of retries)."},
            {"name": "resend", "definition": RESEND_OPERATION_URL,
             "documentation": "Queue a subscription's dead notifications again."},
        ],
    }


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
        "AuditEvent.rs. patient/ scopes see only their own patient. Metadata, Questionnaire and CodeSystem "
        "are public.",
    }
    if auth_mode != "none":
        security["service"] = [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/restful-security-service",
                                            "code": "SMART-on-FHIR", "display": "SMART-on-FHIR"}]}]
    return security


def capability_statement(base_url: str, software_date: str = "2026-11-25", auth_mode: str = "none",
                         cors: bool = False) -> dict[str, Any]:
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
                "documentation": "Triage a QuestionnaireResponse with POST QuestionnaireResponse/$triage; "
                "read and search the CarePlans, Encounters and QuestionnaireResponses it stores; "
                "subscribe to triage events (webhooks) with Subscription.",
                "resource": [
                    _stored("CarePlan", {
                        "operation": [{"name": "explain", "definition": EXPLAIN_OPERATION_URL,
                                       "documentation": "GET CarePlan/{id}/$explain: the triage behind the plan, "
                                       "line by line (each finding's rule, source and answers), as Parameters."}],
                    }),
                    _stored("Encounter"),
                    _stored("QuestionnaireResponse", {
                        "conditionalCreate": True,
                        "operation": [{"name": "triage", "definition": TRIAGE_OPERATION_URL,
                                       "documentation": "Validate, triage and store a QuestionnaireResponse; "
                                       "answers with the CarePlan (201, or 200 when its identifier was "
                                       "triaged before)."}],
                    }),
                    {
                        "type": "Questionnaire",
                        "interaction": [{"code": "read"}, {"code": "search-type"}],
                        "documentation": "Versions 2.0.0 (id lbp-triage, current) and 1.0.0 (id "
                        "lbp-triage-1.0.0) are served; a response is triaged by the rules of the version "
                        "it names in QuestionnaireResponse.questionnaire, the current one without a version.",
                        "searchParam": [{"name": "url", "type": "uri",
                                         "documentation": f"The canonical URL ({QUESTIONNAIRE_URL}), "
                                         "optionally |version."},
                                        {"name": "version", "type": "token",
                                         "documentation": "The business version: 1.0.0 or 2.0.0."}],
                    },
                    {
                        "type": "CodeSystem",
                        "interaction": [{"code": "read"}, {"code": "search-type"}],
                        "searchParam": [{"name": "url", "type": "uri", "documentation": "The canonical URL."},
                                        {"name": "version", "type": "token",
                                         "documentation": "The business version."}],
                    },
                    _subscription(),
                    {
                        "type": "AuditEvent",
                        "interaction": [{"code": "read"}, {"code": "search-type"}],
                        "searchParam": [
                            {"name": "patient", "type": "reference", "documentation": "Records about this patient."},
                            {"name": "date", "type": "date", "documentation": "When recorded, with a prefix."},
                            {"name": "_count", "type": "number", "documentation": "Page size (newest first)."},
                        ],
                    },
                ],
            }
        ],
    }
