"""Webhooks as FHIR Subscriptions: create, read, search, delete; $status, $deliveries, $resend."""

from __future__ import annotations

from typing import Any

import anyio
from fastapi import APIRouter, Request
from starlette.responses import Response

from app.fhir.http import FhirResponse, fhir_base, prefer, read_resource, version_headers
from app.fhir.openapi import (
    COMMON_ERRORS,
    SEARCH_RULES,
    Responses,
    fhir_ok,
    outcome_response,
    query_parameters,
    resource_schema,
    search_parameters,
)
from app.fhir.outcome import HttpProblem, single_outcome
from app.fhir.search import check_operation_parameters, is_lenient, read_search, searchset_in_memory
from app.security.context import Caller
from app.settings import AppSettings, Settings
from app.subscriptions import service
from app.subscriptions.deps import Outbound, Subscriptions
from app.subscriptions.resources import render_subscription
from app.subscriptions.topics import TOPICS

router = APIRouter(prefix="/fhir", tags=["Webhooks"])

CREATE_DESCRIPTION = (
    """
Subscribe a webhook receiver to a topic (FHIR R4 Subscription, Subscriptions Backport IG):

- `criteria`: """
    + " or ".join(f"`{t}`" for t in TOPICS)
    + """;
  filters in the backport `filter-criteria` extension on `_criteria`, e.g. `CarePlan?patient=Patient/123`
  or `CarePlan?disposition=emergency,urgent`;
- `channel.type` `rest-hook`, `channel.endpoint` an https URL, `channel.payload` `application/fhir+json`
  with the backport `payload-content` extension `id-only` (default) or `full-resource`;
  `channel.header` for extra headers (e.g. `Authorization: Bearer …`);
- the signing secret: your own `whsec_…` in the `webhook-secret` extension on `channel`, or none and
  the answer holds a generated one. **It is shown in this answer only.**

The subscription starts `requested`; a handshake is sent, and it turns `active` (or `error`).
Notifications are signed per Standard Webhooks (`webhook-id`, `webhook-timestamp`, `webhook-signature`).
"""
)
_SUBSCRIPTION = "Subscription"
_BACKPORT = "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition"
EXAMPLE = {
    "resourceType": "Subscription",
    "status": "requested",
    "reason": "Red flags to the on-call team",
    "criteria": list(TOPICS)[1],
    "_criteria": {
        "extension": [{"url": f"{_BACKPORT}/backport-filter-criteria", "valueString": "CarePlan?disposition=emergency"}]
    },
    "channel": {
        "type": "rest-hook",
        "endpoint": "https://receiver.example.org/lbp",
        "payload": "application/fhir+json",
        "_payload": {"extension": [{"url": f"{_BACKPORT}/backport-payload-content", "valueCode": "id-only"}]},
        "header": ["Authorization: Bearer receiver-token"],
    },
}
BODY_ERRORS: Responses = {
    400: outcome_response(
        "Not valid FHIR R4 JSON (the R4 JSON Schema's rules, duplicate keys, a "
        "modifierExtension, an unsafe narrative): every fault listed, nothing stored"
    ),
    413: outcome_response("The body is too large"),
    415: outcome_response("The body is not application/fhir+json"),
}


def _body(
    description: str, resource_type: str, required: bool, example: dict[str, Any] | None = None
) -> dict[str, Any]:
    content: dict[str, Any] = {"schema": resource_schema(resource_type)}
    if example is not None:
        content["example"] = example
    return {
        "requestBody": {
            "required": required,
            "description": description,
            "content": {
                "application/fhir+json": content,
                "application/json": {"schema": resource_schema(resource_type)},
            },
        }
    }


async def _optional_json(request: Request, settings: Settings) -> Any:
    if not (request.headers.get("content-length") not in (None, "0") or request.headers.get("transfer-encoding")):
        return None
    return await read_resource(request, settings, "Parameters")


@router.post(
    "/Subscription",
    summary="Subscribe a webhook receiver",
    description=CREATE_DESCRIPTION,
    response_class=FhirResponse,
    status_code=201,
    responses={
        **fhir_ok("The Subscription, with its signing secret (this once)", _SUBSCRIPTION, status=201),
        **BODY_ERRORS,
        422: outcome_response(
            "Valid FHIR that this server will not serve: unknown topic, filter, channel, or an endpoint it may not call"
        ),
    },
    openapi_extra=_body("A Subscription (R4, backport profile)", _SUBSCRIPTION, True, EXAMPLE),
)
async def create_subscription(
    request: Request, settings: AppSettings, creator: Caller, repository: Subscriptions, policy: Outbound
) -> Response:
    data = await read_resource(request, settings, "Subscription")
    created = await service.create(data, fhir_base(request, settings), policy, repository, creator)
    resource = created.subscription
    headers = {"Location": f"/fhir/Subscription/{resource['id']}", **version_headers(resource)}
    # A generated secret exists only in this answer, so the representation is always sent then.
    preference = prefer(request, "return", "representation")
    if not created.secret_generated and preference == "minimal":
        return Response(status_code=201, headers=headers)
    if not created.secret_generated and preference == "OperationOutcome":
        return FhirResponse(
            single_outcome("informational", f"Created Subscription/{resource['id']}", severity="information"),
            status_code=201,
            headers=headers,
        )
    return FhirResponse(resource, status_code=201, headers=headers)


@router.get(
    "/Subscription",
    summary="Search subscriptions",
    response_class=FhirResponse,
    description="All subscriptions, newest first; `status` narrows them (several: any of them). " + SEARCH_RULES,
    responses=fhir_ok("A searchset Bundle", "Bundle"),
    openapi_extra=search_parameters(_SUBSCRIPTION),
)
async def search_subscriptions(request: Request, settings: AppSettings, repository: Subscriptions) -> Response:
    search = read_search(
        _SUBSCRIPTION,
        request.query_params.multi_items(),
        lenient=is_lenient(request),
        max_count=settings.max_page_size,
    )
    for name, value in search.criteria:
        if name == "status":
            service.checked_statuses([value])
    rows = await anyio.to_thread.run_sync(repository.search, None)
    base = fhir_base(request, settings)
    return FhirResponse(searchset_in_memory(search, _SUBSCRIPTION, [render_subscription(r) for r in rows], base))


@router.get(
    "/Subscription/$status",
    summary="Status of several subscriptions",
    response_class=FhirResponse,
    description="A searchset Bundle of subscription-status Parameters (R4 backport), one per "
    "subscription; `id` and `status` narrow them.",
    responses=fhir_ok("A searchset Bundle of Parameters", "Bundle"),
    openapi_extra=query_parameters(
        ("id", "Subscription ids", {"type": "string"}),
        ("status", "requested, active, error or off", {"type": "string"}),
    ),
)
async def statuses(request: Request, settings: AppSettings, repository: Subscriptions) -> Response:
    params = request.query_params
    check_operation_parameters("status", params.multi_items(), {"id": True, "status": True})
    statuses = service.checked_statuses(params.getlist("status")) if "status" in params else None
    ids = {i for value in params.getlist("id") for i in value.split(",") if i}
    rows = [r for r in await anyio.to_thread.run_sync(repository.search, statuses) if not ids or r.id in ids]
    base = fhir_base(request, settings)
    return FhirResponse(await service.status_bundle(repository, base, rows, f"{base}/Subscription/$status"))


@router.get(
    "/Subscription/{subscription_id}",
    summary="Read a subscription",
    response_class=FhirResponse,
    description="The Subscription with its current status (and `error` when deliveries fail). "
    "The signing secret is never shown again.",
    responses=fhir_ok("The Subscription", _SUBSCRIPTION),
)
async def read_subscription(subscription_id: str, repository: Subscriptions) -> Response:
    resource = render_subscription(await service.read(repository, subscription_id))
    return FhirResponse(resource, headers=version_headers(resource))


@router.delete(
    "/Subscription/{subscription_id}",
    summary="Delete a subscription",
    status_code=204,
    description="Stops deliveries: the subscription and its queued notifications are removed.",
    responses={204: {"description": "Deleted"}, **COMMON_ERRORS},
)
async def delete_subscription(subscription_id: str, repository: Subscriptions) -> Response:
    await service.delete(repository, subscription_id)
    return Response(status_code=204)


@router.get(
    "/Subscription/{subscription_id}/$status",
    summary="Status of a subscription",
    response_class=FhirResponse,
    description="A searchset Bundle holding the subscription-status Parameters (R4 backport): "
    "status, type `query-status`, `events-since-subscription-start`, topic, and the error if any.",
    responses=fhir_ok("A searchset Bundle of one Parameters", "Bundle"),
)
async def subscription_status(
    subscription_id: str, request: Request, settings: AppSettings, repository: Subscriptions
) -> Response:
    check_operation_parameters("status", request.query_params.multi_items(), {})
    row = await service.read(repository, subscription_id)
    base = fhir_base(request, settings)
    return FhirResponse(
        await service.status_bundle(repository, base, [row], f"{base}/Subscription/{subscription_id}/$status")
    )


@router.get(
    "/Subscription/{subscription_id}/$deliveries",
    summary="Delivery log of a subscription",
    response_class=FhirResponse,
    description="Its notifications, newest first, as Parameters: one `delivery` each with its "
    "webhook-id, type, state (pending, delivered, dead), attempts, last HTTP status and error. "
    "`state=dead` lists those that ran out of retries; `_count` (default 100, at most 1000).",
    responses=fhir_ok("Parameters", "Parameters"),
    openapi_extra=query_parameters(
        ("state", "pending, delivered or dead", {"type": "string"}),
        ("_count", "How many (newest first)", {"type": "integer"}),
    ),
)
async def subscription_deliveries(
    subscription_id: str, request: Request, settings: AppSettings, repository: Subscriptions
) -> Response:
    check_operation_parameters("deliveries", request.query_params.multi_items(), {"state": False, "_count": False})
    log = await service.delivery_log(
        repository,
        subscription_id,
        request.query_params.get("state"),
        request.query_params.get("_count", "100"),
        fhir_base(request, settings),
    )
    return FhirResponse(log)


@router.post(
    "/Subscription/{subscription_id}/$resend",
    summary="Send dead notifications again",
    response_class=FhirResponse,
    description="Queues the subscription's dead notifications again, to be sent at once with their "
    "original webhook-id and event number. No body: every dead one; or a Parameters body naming "
    "some by `webhook-id`. Answers Parameters with `resent` (how many).",
    responses={
        **fhir_ok("Parameters with the count", "Parameters"),
        **BODY_ERRORS,
        409: outcome_response("The subscription is off"),
    },
    openapi_extra=_body("Optional: Parameters naming the notifications by `webhook-id`", "Parameters", False),
)
async def resend(subscription_id: str, request: Request, settings: AppSettings, repository: Subscriptions) -> Response:
    check_operation_parameters("resend", request.query_params.multi_items(), {})
    return FhirResponse(await service.resend(repository, subscription_id, lambda: _optional_json(request, settings)))


@router.api_route("/Subscription/{subscription_id}", methods=["PUT", "PATCH", "POST"], include_in_schema=False)
async def subscription_other_methods(subscription_id: str) -> Response:
    raise HttpProblem(
        405,
        "not-supported",
        "Subscriptions are created with POST /fhir/Subscription, read with GET and removed with DELETE.",
        headers={"Allow": "GET, DELETE"},
    )
