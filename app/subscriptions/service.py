"""The Subscription use-cases behind the routes: create (checked, with its handshake), read,
delete, status, delivery log, resend. The routes read the request and shape the answer; what
may be done to a subscription, and in which order it is checked, is decided here."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import anyio

from app.fhir.bundle import searchset
from app.fhir.outcome import Fault, HttpProblem, Rejected
from app.kit.clock import instant
from app.security.authority import subscription_authority
from app.security.principal import Principal
from app.subscriptions.notifications import QUERY_STATUS, status_parameters
from app.subscriptions.outbound import OutboundPolicy, Refused
from app.subscriptions.resources import bind_to_patient, parse_subscription, render_subscription
from app.subscriptions.store import Delivery, SubscriptionRepository

STATUSES = ("requested", "active", "error", "off")
DELIVERY_STATES = ("pending", "delivered", "dead")
MAX_DELIVERIES = 1000  # one $deliveries page at most
NOT_FOUND = "No Subscription with this id."


@dataclass(frozen=True, slots=True)
class Created:
    subscription: dict[str, Any]  # with the secret: shown this once
    secret_generated: bool


async def create(
    data: Any, base_url: str, policy: OutboundPolicy, repository: SubscriptionRepository, creator: Principal | None
) -> Created:
    """Raises Rejected: 400 for what is not R4, 422 for what this server will not serve,
    including an endpoint it may not call; Forbidden (403) when the creator may not read what
    the subscription would carry."""
    new = parse_subscription(data)
    authority = subscription_authority(creator, new.content, new.criteria.patient)  # or Forbidden (403)
    if authority.patient is not None and new.criteria.patient is None:
        new = bind_to_patient(new, authority.patient)  # a patient token's subscription is its patient's
    try:
        await policy.resolve(new.endpoint)
    except Refused as refused:
        raise Rejected([Fault("business-rule", str(refused), "Subscription.channel.endpoint")], 422) from None
    row = await anyio.to_thread.run_sync(repository.create, new, base_url, authority.as_json())
    return Created(render_subscription(row, secret=new.secret, channel=new.channel), new.secret_generated)


def status_resource(row: Any, base_url: str, events_since_start: int) -> dict[str, Any]:
    return status_parameters(
        base_url=base_url,
        subscription_id=row.id,
        topic=row.topic,
        status=row.status,
        kind=QUERY_STATUS,
        events_since_start=events_since_start,
        error=row.error if row.status in ("error", "off") else None,
    )


def deliveries_parameters(deliveries: list[Delivery], base_url: str) -> dict[str, Any]:
    """The delivery log as Parameters: one `delivery` per notification, newest first."""
    parameters = []
    for d in deliveries:
        parts: list[dict[str, Any]] = [
            {"name": "webhook-id", "valueString": d.message_id},
            {"name": "type", "valueCode": d.kind},
            {"name": "state", "valueCode": d.state},
            {"name": "attempts", "valueInteger": d.attempts},
            {"name": "occurred", "valueInstant": instant(d.occurred)},
        ]
        if d.event_number is not None and d.kind != "handshake":
            parts.append({"name": "event-number", "valueString": str(d.event_number)})
        if d.careplan_id:
            parts.append({"name": "focus", "valueReference": {"reference": f"{base_url}/CarePlan/{d.careplan_id}"}})
        if d.last_attempt_at is not None:
            parts.append({"name": "last-attempt", "valueInstant": instant(d.last_attempt_at)})
        if d.last_status is not None:
            parts.append({"name": "http-status", "valueInteger": d.last_status})
        if d.last_error:
            parts.append({"name": "error", "valueString": d.last_error})
        if d.delivered_at is not None:
            parts.append({"name": "delivered", "valueInstant": instant(d.delivered_at)})
        parameters.append({"name": "delivery", "part": parts})
    resource: dict[str, Any] = {"resourceType": "Parameters"}
    if parameters:
        resource["parameter"] = parameters
    return resource


def resend_selection(data: Any) -> list[str] | None:
    """$resend's optional body: Parameters with `webhook-id` values; none means every dead one."""
    if data is None:
        return None
    if not isinstance(data, dict) or data.get("resourceType") != "Parameters":
        raise Rejected([Fault("structure", "$resend takes a Parameters resource (or no body).")], 400)
    ids = []
    for parameter in data.get("parameter") or ():
        if (
            not isinstance(parameter, dict)
            or parameter.get("name") != "webhook-id"
            or not isinstance(parameter.get("valueString"), str)
        ):
            raise Rejected(
                [
                    Fault(
                        "structure",
                        "$resend takes parameters named webhook-id with a valueString.",
                        "Parameters.parameter",
                    )
                ],
                400,
            )
        ids.append(parameter["valueString"])
    return ids or None


async def read(repository: SubscriptionRepository, subscription_id: str) -> Any:
    """The subscription's row, or 404."""
    row = await anyio.to_thread.run_sync(repository.read, subscription_id)
    if row is None:
        raise HttpProblem(404, "not-found", NOT_FOUND)
    return row


async def delete(repository: SubscriptionRepository, subscription_id: str) -> None:
    """Stop deliveries: the subscription and its queued notifications go (404 if there is none)."""
    if not await anyio.to_thread.run_sync(repository.delete, subscription_id):
        raise HttpProblem(404, "not-found", NOT_FOUND)


def checked_statuses(values: list[str]) -> list[str]:
    """`status` values (each may list several, comma-separated), or 400."""
    statuses = [s for value in values for s in value.split(",")]
    if any(s not in STATUSES for s in statuses):
        raise HttpProblem(400, "invalid", "status takes requested, active, error or off.")
    return statuses


async def status_bundle(
    repository: SubscriptionRepository, base: str, rows: list[Any], self_url: str
) -> dict[str, Any]:
    """$status: a searchset of subscription-status Parameters, one per subscription."""
    resources = []
    for row in rows:
        events = await anyio.to_thread.run_sync(repository.events_since_start, row.id, row.event_count)
        resources.append(status_resource(row, base, events))
    bundle = searchset(resources, len(resources), base, self_url, None)
    for entry in bundle["entry"]:
        entry["fullUrl"] = f"urn:uuid:{entry['resource']['id']}"
    return bundle


async def delivery_log(
    repository: SubscriptionRepository, subscription_id: str, state: str | None, count_text: str, base: str
) -> dict[str, Any]:
    """$deliveries: 404 for an unknown subscription first, then 400 for a bad state or count."""
    await read(repository, subscription_id)
    if state is not None and state not in DELIVERY_STATES:
        raise HttpProblem(400, "invalid", "state takes pending, delivered or dead.")
    if not count_text.isdigit():
        raise HttpProblem(400, "invalid", "_count must be a whole number.")
    count = min(int(count_text), MAX_DELIVERIES)
    deliveries = await anyio.to_thread.run_sync(partial(repository.deliveries, subscription_id, state, count))
    return deliveries_parameters(deliveries, base)


async def resend(
    repository: SubscriptionRepository, subscription_id: str, body: Callable[[], Awaitable[Any]]
) -> dict[str, Any]:
    """$resend: queue dead notifications again. An unknown subscription is 404 and one that is
    off (its receiver answered 410 Gone) 409, both before the body is read."""
    row = await read(repository, subscription_id)
    if row.status == "off":
        raise HttpProblem(
            409, "conflict", "The subscription is off (its receiver answered 410 Gone); create a new one."
        )
    selection = resend_selection(await body())
    count = await anyio.to_thread.run_sync(repository.resend, subscription_id, selection)
    return {"resourceType": "Parameters", "parameter": [{"name": "resent", "valueInteger": count}]}
