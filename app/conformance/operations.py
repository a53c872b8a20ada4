"""The OperationDefinitions of the operations this server routes, served at
GET /fhir/OperationDefinition/{id} and named by the CapabilityStatement.

An operation route (a path with `$name`) is declared by an entry here under its resource
type and name; the CapabilityStatement is built from the routes and this table, and a test
fails for a routed operation without one.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from app import __version__
from app.fhir.canonical import BASE

BACKPORT = "http://hl7.org/fhir/uv/subscriptions-backport"


def _parameter(name: str, use: str, low: int, high: str, type_: str, documentation: str) -> dict[str, Any]:
    return {"name": name, "use": use, "min": low, "max": high, "documentation": documentation, "type": type_}


def _definition(
    id_: str,
    code: str,
    resource_type: str,
    title: str,
    description: str,
    *,
    url: str | None = None,
    affects_state: bool,
    type_level: bool,
    instance: bool,
    parameters: list[dict[str, Any]],
) -> dict[str, Any]:
    return {
        "resourceType": "OperationDefinition",
        "id": id_,
        "url": url or f"{BASE}/OperationDefinition/{id_}",
        "version": __version__,
        "name": title.replace(" ", "").replace("-", ""),
        "title": title,
        "status": "active",
        "kind": "operation",
        "description": description,
        "affectsState": affects_state,
        "code": code,
        "resource": [resource_type],
        "system": False,
        "type": type_level,
        "instance": instance,
        "parameter": parameters,
    }


# (resource type, operation name) → its OperationDefinition
OPERATIONS: dict[tuple[str, str], dict[str, Any]] = {
    ("QuestionnaireResponse", "triage"): _definition(
        "QuestionnaireResponse-triage",
        "triage",
        "QuestionnaireResponse",
        "Triage a QuestionnaireResponse",
        "Validate a QuestionnaireResponse to the lbp-triage Questionnaire, triage it, store the response, "
        "the Encounter and the CarePlan, and answer with the CarePlan (201). Idempotent by the response's "
        "identifier (or If-None-Exist: identifier=system|value): the same response of the same patient again "
        "answers 200 with the current CarePlan. The same identifier with status 'amended' and other answers "
        "is triaged again (201): the new CarePlan replaces the earlier one, which is revoked. Other answers "
        "not marked 'amended', or another patient, answer 409. Invalid FHIR is a 400; a response that breaks "
        "the Questionnaire's rules is a 422 (one on a warning-sign item must reach a clinician).",
        affects_state=True,
        type_level=True,
        instance=False,
        parameters=[
            _parameter(
                "response",
                "in",
                1,
                "1",
                "QuestionnaireResponse",
                "The patient's answers; sent as the body itself or as this parameter of a Parameters.",
            ),
            _parameter(
                "return", "out", 1, "1", "CarePlan", "The CarePlan: disposition (category), findings and activities."
            ),
        ],
    ),
    ("CarePlan", "explain"): _definition(
        "CarePlan-explain",
        "explain",
        "CarePlan",
        "Explain a CarePlan",
        "The triage behind a CarePlan, line by line, so a clinician can check the decision: the rules version, "
        "the disposition, and each finding with its tier, the rule row's condition and source, and the answers "
        "that fired it (under rules 2 also the STarT Back scores and each medicine decision with its reason). "
        "The stored response is re-run through the rules version stored with it. Read with the CarePlan's "
        "own scope and patient check.",
        affects_state=False,
        type_level=False,
        instance=True,
        parameters=[
            _parameter("return", "out", 1, "1", "Parameters", "The explanation."),
        ],
    ),
    ("PlanDefinition", "apply"): _definition(
        "PlanDefinition-apply",
        "apply",
        "PlanDefinition",
        "Apply the triage rules",
        "Apply a rules version (a PlanDefinition) to a patient's QuestionnaireResponse: the same validation "
        "(400 for invalid FHIR, 422 for broken Questionnaire rules) and the same CarePlan as "
        "QuestionnaireResponse/$triage, answered 200 and stored nowhere (the CarePlan has no id). The response "
        "must answer the Questionnaire version of the PlanDefinition's rules, or it is a 422 saying so; subject "
        "must be the response's subject (422 otherwise). With persist=true the triage is stored exactly as "
        "$triage stores it (201 and Location, identifier replays and amendments, audit, webhooks). At the type "
        "level the PlanDefinition is chosen by url (and version; the current rules without one). Scope: that of "
        "$triage, QuestionnaireResponse.c (a patient/ token for its own patient only).",
        affects_state=True,
        type_level=True,
        instance=True,
        parameters=[
            _parameter("subject", "in", 1, "1", "string", "The patient, Patient/{id}: the response's subject."),
            _parameter(
                "data",
                "in",
                0,
                "1",
                "QuestionnaireResponse",
                "The patient's answers (required, as 'data' or as 'response').",
            ),
            _parameter("response", "in", 0, "1", "QuestionnaireResponse", "The same as 'data', by $triage's name."),
            _parameter(
                "url", "in", 0, "1", "uri", "Type level: the PlanDefinition's canonical url, optionally |version."
            ),
            _parameter("version", "in", 0, "1", "string", "Type level: the rules version (default: current)."),
            _parameter(
                "persist",
                "in",
                0,
                "1",
                "boolean",
                "true: store the triage as $triage does (default false: nothing is stored).",
            ),
            _parameter("return", "out", 1, "1", "CarePlan", "The CarePlan, as $triage makes it."),
        ],
    ),
    ("Subscription", "status"): _definition(
        "backport-subscription-status",
        "status",
        "Subscription",
        "Subscription status",
        "The subscription-status Parameters (Subscriptions R5 Backport IG) of one subscription or of several, "
        "as a searchset Bundle.",
        url=f"{BACKPORT}/OperationDefinition/backport-subscription-status",
        affects_state=False,
        type_level=True,
        instance=True,
        parameters=[
            _parameter("id", "in", 0, "*", "id", "At the type level: the subscriptions wanted (all if none)."),
            _parameter("status", "in", 0, "*", "code", "At the type level: only subscriptions in this status."),
            _parameter("return", "out", 1, "1", "Bundle", "A searchset Bundle of subscription-status Parameters."),
        ],
    ),
    ("Subscription", "deliveries"): _definition(
        "Subscription-deliveries",
        "deliveries",
        "Subscription",
        "Subscription deliveries",
        "The delivery log of a subscription, newest first: one `delivery` part per notification with its "
        "webhook-id, type, state (pending, delivered, dead), attempts, last HTTP status and error.",
        affects_state=False,
        type_level=False,
        instance=True,
        parameters=[
            _parameter("state", "in", 0, "1", "code", "Only deliveries in this state: pending, delivered or dead."),
            _parameter("_count", "in", 0, "1", "integer", "How many, newest first (default 100, at most 1000)."),
            _parameter("return", "out", 1, "1", "Parameters", "The deliveries."),
        ],
    ),
    ("Subscription", "resend"): _definition(
        "Subscription-resend",
        "resend",
        "Subscription",
        "Resend dead notifications",
        "Queue a subscription's dead notifications again, with their original webhook-id and event number. "
        "Without a body every dead one; a Parameters body may name some by webhook-id.",
        affects_state=True,
        type_level=False,
        instance=True,
        parameters=[
            _parameter("webhook-id", "in", 0, "*", "string", "The notifications to send again (all dead if none)."),
            _parameter("resent", "out", 1, "1", "integer", "How many were queued again."),
        ],
    ),
}


@cache
def operation_definitions() -> dict[str, dict[str, Any]]:
    """The OperationDefinitions by id."""
    return {definition["id"]: definition for definition in OPERATIONS.values()}
