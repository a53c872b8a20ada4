"""FHIR on the wire: application/fhir+json in and out (errors are app.fhir.outcome's FhirError)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime
from typing import Any

import orjson
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from app.fhir.outcome import Fault, FhirError, HttpProblem
from app.fhir.r4 import check_structure, parse_json
from app.kit.clock import http_date
from app.settings import Settings

FHIR_JSON = "application/fhir+json"
ACCEPTED_REQUEST_TYPES = ("application/fhir+json", "application/json", "application/json+fhir")
ACCEPTED_FORMATS = ("json", "application/json", "application/fhir+json", "application/json+fhir")
HTML_FORMATS = ("html", "text/html", "application/xhtml+xml")


class FhirResponse(Response):
    media_type = FHIR_JSON

    def render(self, content: Any) -> bytes:
        if content is None:
            return b""
        if isinstance(content, bytes):
            return content
        return orjson.dumps(content)


class ClientGone(Exception):
    """The client disconnected before its request was read: nobody is left to answer (499)."""


def version_headers(resource: dict[str, Any]) -> dict[str, str]:
    """ETag and Last-Modified from the resource's meta."""
    meta = resource.get("meta") or {}
    headers = {}
    if "versionId" in meta:
        headers["ETag"] = f'W/"{meta["versionId"]}"'
    if "lastUpdated" in meta:
        moment = datetime.fromisoformat(meta["lastUpdated"].replace("Z", "+00:00"))
        headers["Last-Modified"] = http_date(moment)
    return headers


def fhir_base(request: Request, settings: Settings) -> str:
    """The base of every FHIR link (service_base + "/fhir")."""
    return service_base(request, settings) + "/fhir"


def service_base(request: Request, settings: Settings) -> str:
    """The service's own URL, without a trailing slash: LBP_PUBLIC_BASE_URL; else the Host
    header if LBP_ALLOWED_HOSTS lists it; else the address the server listens on. Never a Host
    header nobody vouched for: links are made from it, and a CDS Hooks token's audience must
    name it (a Host the caller chose would let a token for another service pass)."""
    if settings.public_base_url:
        return settings.public_base_url.rstrip("/")
    allowed = {h.strip().lower() for h in settings.allowed_hosts.split(",") if h.strip()}
    host = (request.headers.get("host") or "").strip().lower()
    scheme = request.url.scheme  # set from X-Forwarded-Proto by trusted proxies only
    if host and host in allowed:
        return f"{scheme}://{host}"
    server = request.scope.get("server")
    if not server:
        return ""
    name, port = server[0], server[1]
    name = f"[{name}]" if ":" in str(name) else name
    default = {"http": 80, "https": 443}.get(scheme)
    return f"{scheme}://{name}{'' if port in (None, default) else f':{port}'}"


def prefer(request: Request, name: str, default: str) -> str:
    """One preference of the Prefer header (RFC 7240), e.g. return=minimal or handling=strict."""
    for part in (request.headers.get("prefer") or "").replace(",", ";").split(";"):
        key, _, value = part.strip().partition("=")
        if key.strip() == name:
            return value.strip().strip('"')
    return default


def _media_type(header: str) -> str:
    return header.split(";", 1)[0].strip().lower()


def check_request_media_type(request: Request) -> None:
    content_type = request.headers.get("content-type")
    if content_type is None or _media_type(content_type) not in ACCEPTED_REQUEST_TYPES:
        raise HttpProblem(415, "not-supported", "Send the resource as application/fhir+json (or application/json).")
    charset = content_type.lower().partition("charset=")[2].strip().strip('"')
    if charset and charset not in ("utf-8", "utf8"):
        raise HttpProblem(415, "not-supported", "Only UTF-8 encoded JSON is accepted.")


def check_content_encoding(request: Request) -> None:
    """Bodies are read as sent: a compressed one would be taken for malformed JSON (or, worse,
    inflated past the size limit), so any encoding but identity is refused."""
    encoding = request.headers.get("content-encoding")
    if encoding and any(part.strip().lower() not in ("", "identity") for part in encoding.split(",")):
        raise HttpProblem(415, "not-supported", "Content-Encoding is not supported; send the body uncompressed.")


def wants_html(request: Request) -> bool:
    """_format=html, or an Accept header that lists HTML before any JSON (as browsers send)."""
    fmt = request.query_params.get("_format")
    if fmt is not None:
        return fmt.lower() in HTML_FORMATS
    for part in (request.headers.get("accept") or "").split(","):
        media = _media_type(part)
        if media in HTML_FORMATS:
            return True
        if media in ("*/*", "application/*", *ACCEPTED_FORMATS):
            return False
    return False


def check_acceptable(request: Request, html_allowed: bool = False) -> None:
    """406 unless the client accepts JSON (the only format served), via _format or Accept;
    where a readable page is served (html_allowed), HTML too."""
    check_accepted(request.query_params.get("_format"), request.headers.get("accept"), html_allowed)


def check_accepted(fmt: str | None, accept: str | None, html_allowed: bool = False) -> None:
    """check_acceptable, given the _format parameter and the Accept header."""
    if fmt is not None:
        if fmt.lower() not in ACCEPTED_FORMATS and not (html_allowed and fmt.lower() in HTML_FORMATS):
            raise HttpProblem(406, "not-supported", "Only JSON is served (_format=json).")
        return
    if not accept:
        return
    for part in accept.split(","):
        media = _media_type(part)
        if media in ("*/*", "application/*", "application/fhir+json", "application/json", "application/json+fhir") or (
            html_allowed and media in HTML_FORMATS
        ):
            return
    raise HttpProblem(406, "not-supported", "Only application/fhir+json is served.")


async def _read_body(request: Request, settings: Settings) -> bytes:
    """The request's bytes, at most LBP_MAX_BODY_BYTES within LBP_BODY_TIMEOUT_SECONDS: 415, 413,
    408 and 400 (empty, or holding a NUL) as FHIR expects; ClientGone when the client disconnects."""
    max_bytes = settings.max_body_bytes
    check_request_media_type(request)
    check_content_encoding(request)
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise _too_large(max_bytes)
    chunks, size = [], 0
    try:
        # A client that trickles (or stops sending) its body does not hold the request open.
        # (asyncio's own timeout: the service runs on asyncio, and anyio's costs twice as much.)
        async with asyncio.timeout(settings.body_timeout_seconds):
            async for chunk in request.stream():
                size += len(chunk)
                if size > max_bytes:
                    raise _too_large(max_bytes)
                chunks.append(chunk)
    except TimeoutError:
        raise HttpProblem(408, "timeout", "The request body did not arrive in time.") from None
    except ClientDisconnect:
        raise ClientGone() from None
    body = b"".join(chunks)
    if not body.strip():
        raise HttpProblem(400, "structure", "The request has no body; send a FHIR resource.")
    if b"\\u0000" in body:  # JSON-escaped NUL: no FHIR string may hold it, no database stores it
        raise HttpProblem(400, "structure", "The body contains a NUL character (\\u0000).")
    return body


async def read_resource(
    request: Request,
    settings: Settings,
    *resource_types: str,
    vouched: Callable[[dict[str, Any], int], bool] | None = None,
) -> dict[str, Any]:
    """The body as a FHIR R4 resource of one of the given types, checked as strictly as HL7's
    R4 JSON Schema (and FHIR's JSON rules: no duplicate keys, no empty or null values, no
    modifierExtension, a safe narrative), in one walk that also enforces the depth limit.
    Anything else is a 400 OperationOutcome naming each fault's path.

    `vouched(data, max_depth)`: a stricter check of the caller's that, when it says True,
    guarantees the walk would find nothing (the triage fast path): the walk is then skipped,
    not repeated. When it says False the walk runs as always, and names the faults."""
    data = parse_json(await _read_body(request, settings))
    if not isinstance(data, dict) or data.get("resourceType") not in resource_types:
        names = " or ".join(resource_types)
        raise FhirError(
            400, [Fault("structure", f"The resource must be a {names}.", f"{resource_types[0]}.resourceType")]
        )
    limit = settings.max_json_depth
    if vouched is None or not vouched(data, limit):
        check_structure(data, limit)
    return data


async def read_json(request: Request, settings: Settings) -> Any:
    """A JSON body that is not a FHIR resource (a CDS Hooks request, feedback): the same media
    type, size, duplicate-key and depth rules as resources, without the FHIR structure checks."""
    data = parse_json(await _read_body(request, settings))
    limit = settings.max_json_depth
    stack = [(data, 1)]
    while stack:  # not on the $triage path, whose depth is checked in the structure walk
        node, depth = stack.pop()
        if depth > limit:
            raise HttpProblem(400, "structure", f"The JSON is nested more than {limit} levels deep.")
        children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else ()
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return data


def _too_large(max_bytes: int) -> HttpProblem:
    return HttpProblem(413, "too-costly", f"The body is larger than the limit of {max_bytes} bytes.")
