"""The Subscription resource in and out (FHIR R4, Subscriptions Backport IG profile).

In: `criteria` is a topic's canonical URL, filters ride in the backport filter-criteria
extension on `_criteria`, `channel.type` is `rest-hook`, `channel.payload` is
`application/fhir+json` with the backport payload-content extension (`id-only` or
`full-resource`), `channel.header` holds extra HTTP headers, and the signing secret may ride
in the webhook-secret extension on `channel`.
Out: the stored resource with the server's id, status, meta and `error`; the secret, the
`channel.header` values and the endpoint's credentials and query values only in the answer to
the create. What is stored as the resource has them masked already: they live only in the
columns the dispatcher reads.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from app.fhir.canonical import BASE
from app.fhir.outcome import Fault, Rejected
from app.fhir.r4 import check_r4, expect_resource
from app.kit.clock import instant
from app.subscriptions import signing
from app.subscriptions.topics import TOPICS, Criteria, FilterError, parse_filters

BACKPORT = "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition"
SUBSCRIPTION_PROFILE = f"{BACKPORT}/backport-subscription"
FILTER_CRITERIA_URL = f"{BACKPORT}/backport-filter-criteria"
PAYLOAD_CONTENT_URL = f"{BACKPORT}/backport-payload-content"
SECRET_EXTENSION_URL = f"{BASE}/StructureDefinition/webhook-secret"

CONTENTS = ("id-only", "full-resource")
PAYLOAD_TYPES = ("application/fhir+json", "application/json")
MAX_HEADERS = 10
MAX_ENDPOINT_LENGTH = 2048
_HEADER = re.compile(r"^([!#$%&'*+\-.^_`|~0-9A-Za-z]{1,64}):[ \t]*([\x20-\x7e\t]{0,1024})$")
# Headers the dispatcher sets itself, or that would change how the request travels.
RESERVED_HEADERS = frozenset(
    {
        "host",
        "content-type",
        "content-length",
        "content-encoding",
        "transfer-encoding",
        "connection",
        "keep-alive",
        "upgrade",
        "te",
        "trailer",
        "expect",
        "proxy-authorization",
        "user-agent",
        "webhook-id",
        "webhook-timestamp",
        "webhook-signature",
    }
)
MASK = "***"


@dataclass(frozen=True, slots=True)
class NewSubscription:
    """A Subscription that passed every check, ready to store."""

    criteria: Criteria
    endpoint: str
    content: str
    headers: list[str]
    secret: str
    secret_generated: bool
    resource: dict[str, Any]  # as submitted, less id, meta, status, error and the secret; secrets masked
    channel: dict[str, Any]  # as submitted, less the secret: shown once, in the answer to the create


def _fault(code: str, text: str, where: str | None = None) -> Fault:
    return Fault(code, text, where)


def _check_r4(data: dict[str, Any]) -> None:
    from fhir.resources.R4B.subscription import Subscription

    check_r4(Subscription, data)


def _extensions(element: Any, url: str) -> list[dict[str, Any]]:
    if not isinstance(element, dict):
        return []
    return [e for e in element.get("extension") or () if isinstance(e, dict) and e.get("url") == url]


def _parse_end(value: Any) -> datetime | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise Rejected([_fault("value", "Subscription.end must be an instant with a time zone.", "Subscription.end")])
    return moment


def parse_subscription(data: Any) -> NewSubscription:
    """Check a Subscription to create. Raises Rejected: 400 not R4, 422 not servable here."""
    expect_resource(data, "Subscription")
    _check_r4(data)
    faults: list[Fault] = []

    topic = data.get("criteria")
    criteria: Criteria | None = None
    if topic not in TOPICS:
        faults.append(
            _fault(
                "not-supported",
                "Subscription.criteria must be a topic this server publishes: " + ", ".join(TOPICS) + ".",
                "Subscription.criteria",
            )
        )
    else:
        values = [e.get("valueString") for e in _extensions(data.get("_criteria"), FILTER_CRITERIA_URL)]
        filters = [f for f in values if isinstance(f, str)]
        if len(filters) != len(values):
            faults.append(
                _fault("value", "A filter-criteria extension holds a valueString.", "Subscription.criteria.extension")
            )
        else:
            try:
                criteria = parse_filters(topic, filters)
            except FilterError as exc:
                faults.append(_fault("value", str(exc), "Subscription.criteria.extension"))

    channel = data.get("channel") or {}
    if channel.get("type") != "rest-hook":
        faults.append(_fault("not-supported", "Only the rest-hook channel is supported.", "Subscription.channel.type"))
    endpoint = channel.get("endpoint")
    if not isinstance(endpoint, str) or not endpoint:
        faults.append(_fault("required", "A rest-hook channel needs an endpoint URL.", "Subscription.channel.endpoint"))
    elif len(endpoint) > MAX_ENDPOINT_LENGTH:  # one limit on both engines (the column's)
        faults.append(
            _fault(
                "too-long",
                f"The endpoint URL may be at most {MAX_ENDPOINT_LENGTH} characters.",
                "Subscription.channel.endpoint",
            )
        )
    if channel.get("payload") not in PAYLOAD_TYPES:
        faults.append(
            _fault(
                "not-supported",
                "Subscription.channel.payload must be application/fhir+json.",
                "Subscription.channel.payload",
            )
        )
    contents = [e.get("valueCode") for e in _extensions(channel.get("_payload"), PAYLOAD_CONTENT_URL)]
    content = contents[0] if contents else "id-only"
    if len(contents) > 1 or content not in CONTENTS:
        faults.append(
            _fault(
                "not-supported",
                "The payload content must be id-only or full-resource.",
                "Subscription.channel.payload.extension",
            )
        )

    headers = list(channel.get("header") or ())
    if len(headers) > MAX_HEADERS:
        faults.append(_fault("too-costly", f"At most {MAX_HEADERS} channel headers.", "Subscription.channel.header"))
    for index, header in enumerate(headers):
        match = _HEADER.match(header) if isinstance(header, str) else None
        where = f"Subscription.channel.header[{index}]"
        if not match:
            faults.append(_fault("value", "A channel header must read 'Name: value' (printable ASCII).", where))
        elif match.group(1).lower() in RESERVED_HEADERS:
            faults.append(_fault("business-rule", "This header is set by the server and cannot be replaced.", where))

    secrets_given = _extensions(channel, SECRET_EXTENSION_URL)
    secret = secrets_given[0].get("valueString") if secrets_given else None
    if len(secrets_given) > 1 or (secrets_given and not _valid_secret(secret)):
        faults.append(
            _fault(
                "value",
                "The webhook-secret extension must hold one 'whsec_' secret: base64 of 24 to 64 random bytes.",
                "Subscription.channel.extension",
            )
        )
    try:
        end = _parse_end(data.get("end"))
    except Rejected as rejected:
        faults.extend(rejected.faults)
        end = None

    if faults:
        raise Rejected(faults, 422)
    assert criteria is not None and isinstance(endpoint, str) and isinstance(content, str)
    generated = secret is None
    return NewSubscription(
        criteria=Criteria(criteria.topic, criteria.patient, criteria.dispositions, end),
        endpoint=endpoint,
        content=content,
        headers=headers,
        secret=secret if secret is not None else signing.new_secret(),
        secret_generated=generated,
        resource=_stored_form(data),
        channel=_without_secret(data["channel"]),
    )


def bind_to_patient(new: NewSubscription, patient: str) -> NewSubscription:
    """The subscription narrowed to one patient, its stored resource showing the filter."""
    criteria = Criteria(new.criteria.topic, patient, new.criteria.dispositions, new.criteria.end)
    resource = dict(new.resource)
    underscore = dict(resource.get("_criteria") or {})
    underscore["extension"] = [
        *underscore.get("extension", ()),
        {"url": FILTER_CRITERIA_URL, "valueString": f"CarePlan?patient=Patient/{patient}"},
    ]
    resource["_criteria"] = underscore
    return replace(new, criteria=criteria, resource=resource)


def mask_endpoint(url: str) -> str:
    """The endpoint without its secrets: user information and query values masked."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return MASK
    netloc = parts.netloc
    if "@" in netloc:
        netloc = f"{MASK}@{netloc.rsplit('@', 1)[1]}"
    query = parts.query
    if query:
        query = urlencode([(name, MASK) for name, _ in parse_qsl(query, keep_blank_values=True)], safe="*")
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


def mask_header(header: Any) -> Any:
    name, sep, _ = header.partition(":") if isinstance(header, str) else ("", "", "")
    return f"{name}: {MASK}" if sep else MASK


def mask_channel(channel: dict[str, Any]) -> dict[str, Any]:
    """channel.header values and the endpoint's credentials and query values, masked."""
    masked = dict(channel)
    if isinstance(masked.get("endpoint"), str):
        masked["endpoint"] = mask_endpoint(masked["endpoint"])
    if isinstance(masked.get("header"), list):
        masked["header"] = [mask_header(h) for h in masked["header"]]
    return masked


def _valid_secret(secret: Any) -> bool:
    try:
        signing.secret_key(secret)
    except ValueError:
        return False
    return True


def _without_secret(channel: dict[str, Any]) -> dict[str, Any]:
    channel = dict(channel)
    remaining = [e for e in channel.get("extension") or () if e.get("url") != SECRET_EXTENSION_URL]
    if remaining:
        channel["extension"] = remaining
    else:
        channel.pop("extension", None)
    return channel


def _stored_form(data: dict[str, Any]) -> dict[str, Any]:
    resource = {k: v for k, v in data.items() if k not in ("id", "meta", "status", "error", "text")}
    resource["channel"] = mask_channel(_without_secret(resource["channel"]))
    return resource


def render_subscription(
    row: Any, *, secret: str | None = None, channel: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The Subscription as served, its secrets masked; the answer to the create passes the
    `secret` and the `channel` as submitted (shown this once)."""
    stored = row.resource
    resource: dict[str, Any] = {
        "resourceType": "Subscription",
        "id": row.id,
        "meta": {
            "versionId": str(row.version_id),
            "lastUpdated": instant(row.updated),
            "profile": [SUBSCRIPTION_PROFILE],
        },
        "status": row.status,
    }
    resource.update({k: v for k, v in stored.items() if k != "resourceType"})
    if row.error and row.status in ("error", "off"):
        resource["error"] = row.error
    # Masked again on the way out: rows stored before masking hold the values in the resource.
    resource["channel"] = mask_channel(resource["channel"]) if channel is None else dict(channel)
    if secret is not None:
        channel = dict(resource["channel"])
        channel["extension"] = [*channel.get("extension", ()), {"url": SECRET_EXTENSION_URL, "valueString": secret}]
        resource["channel"] = channel
    return resource
