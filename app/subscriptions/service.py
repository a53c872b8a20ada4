"""The Subscription use-cases behind the routes: create (checked, with its handshake),
status, delivery log, resend."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import anyio

from app.fhir.outcome import Fault, Rejected
from app.kit.clock import instant
from app.security.authority import subscription_authority
from app.security.principal import Principal
from app.subscriptions.notifications import QUERY_STATUS, status_parameters
from app.subscriptions.outbound import OutboundPolicy, Refused
from app.subscriptions.resources import bind_to_patient, parse_subscription, render_subscription
from app.subscriptions.store import Delivery, SubscriptionRepository

STATUSES = ("requested", "active", "error", "off")
DELIVERY_STATES = ("pending", "delivered", "dead")


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
