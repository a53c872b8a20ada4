"""What subscribers receive and read: R4 backport subscription-status Parameters and
notification Bundles (type `history`, the status Parameters first)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from app.kit.clock import instant
from app.subscriptions.resources import BACKPORT

STATUS_PROFILE = f"{BACKPORT}/backport-subscription-status-r4"
NOTIFICATION_PROFILE = f"{BACKPORT}/backport-subscription-notification-r4"

EVENT = "event-notification"
HANDSHAKE = "handshake"
QUERY_STATUS = "query-status"


@dataclass(frozen=True, slots=True)
class Event:
    """One triage as a subscription sees it."""

    number: int
    occurred: datetime
    careplan_id: str
    encounter_id: str
    careplan: dict[str, Any] | None = None  # present for full-resource subscriptions
    encounter: dict[str, Any] | None = None


def status_parameters(
    *,
    base_url: str,
    subscription_id: str,
    topic: str,
    status: str,
    kind: str,
    events_since_start: int,
    event: Event | None = None,
    error: str | None = None,
) -> dict[str, Any]:
    parameters: list[dict[str, Any]] = [
        {"name": "subscription", "valueReference": {"reference": f"{base_url}/Subscription/{subscription_id}"}},
        {"name": "topic", "valueCanonical": topic},
        {"name": "status", "valueCode": status},
        {"name": "type", "valueCode": kind},
        {"name": "events-since-subscription-start", "valueString": str(events_since_start)},
    ]
    if event is not None:
        parameters.append(
            {
                "name": "notification-event",
                "part": [
                    {"name": "event-number", "valueString": str(event.number)},
                    {"name": "timestamp", "valueInstant": instant(event.occurred)},
                    {"name": "focus", "valueReference": {"reference": f"{base_url}/CarePlan/{event.careplan_id}"}},
                    {
                        "name": "additional-context",
                        "valueReference": {"reference": f"{base_url}/Encounter/{event.encounter_id}"},
                    },
                ],
            }
        )
    if error:
        parameters.append({"name": "error", "valueCodeableConcept": {"text": error}})
    return {
        "resourceType": "Parameters",
        "id": str(uuid.uuid4()),
        "meta": {"profile": [STATUS_PROFILE]},
        "parameter": parameters,
    }


def notification_bundle(
    status: dict[str, Any],
    *,
    base_url: str,
    subscription_id: str,
    now: datetime,
    event: Event | None = None,
    full_resource: bool = False,
) -> dict[str, Any]:
    """A notification: history Bundle, status first; the CarePlan and Encounter follow as entries
    (with the resources for full-resource subscriptions, as references for id-only ones)."""
    entries: list[dict[str, Any]] = [
        {
            "fullUrl": f"urn:uuid:{status['id']}",
            "resource": status,
            "request": {"method": "GET", "url": f"{base_url}/Subscription/{subscription_id}/$status"},
            "response": {"status": "200"},
        }
    ]
    if event is not None:
        for resource_type, resource_id, resource in (
            ("CarePlan", event.careplan_id, event.careplan),
            ("Encounter", event.encounter_id, event.encounter),
        ):
            entry: dict[str, Any] = {"fullUrl": f"{base_url}/{resource_type}/{resource_id}"}
            if full_resource and resource is not None:
                entry["resource"] = resource
            entry["request"] = {"method": "POST", "url": resource_type}
            entry["response"] = {"status": "201"}
            entries.append(entry)
    return {
        "resourceType": "Bundle",
        "id": str(uuid.uuid4()),
        "meta": {"profile": [NOTIFICATION_PROFILE]},
        "type": "history",
        "timestamp": instant(now),
        "entry": entries,
    }
