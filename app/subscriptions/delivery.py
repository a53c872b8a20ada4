"""One HTTP delivery: sign, POST to the checked address, classify the answer.

Only a 2xx answer is success. Redirects are never followed (a 3xx is a failure), the whole
attempt has one deadline, at most 64 KiB of the answer is read, cookies are never kept, and
proxy settings from the environment are ignored (the address checked is the one reached).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from http.cookiejar import DefaultCookiePolicy

import httpx

from app import __version__
from app.subscriptions import signing
from app.subscriptions.outbound import Target

USER_AGENT = f"lbp-triage-webhooks/{__version__}"
MAX_ANSWER_BYTES = 65536


@dataclass(frozen=True, slots=True)
class Answer:
    ok: bool
    status: int | None  # None when no HTTP answer came
    error: str | None  # short, PHI-free reason for a failure
    retry_after: float | None = None  # seconds, when the receiver asked
    seconds: float = 0.0


def make_client() -> httpx.AsyncClient:
    """A client for one delivery lane (one subscription at a time): its pool stays small, since
    httpcore's pool bookkeeping grows with the connections it holds."""
    client = httpx.AsyncClient(
        follow_redirects=False,
        trust_env=False,
        timeout=None,  # one deadline per attempt instead (see send)
        limits=httpx.Limits(max_connections=4, max_keepalive_connections=4),
    )
    client.cookies.jar.set_policy(DefaultCookiePolicy(allowed_domains=[]))
    return client


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    now = time.time() if now is None else now
    return max(0.0, moment.timestamp() - now)


def _headers(custom: list[str]) -> list[tuple[str, str]]:
    pairs = []
    for header in custom:
        name, _, value = header.partition(":")
        pairs.append((name.strip(), value.strip()))
    return pairs


async def send(
    client: httpx.AsyncClient,
    target: Target,
    *,
    key: bytes,
    message_id: str,
    body: bytes,
    custom_headers: list[str],
    timeout: float,  # noqa: ASYNC109 — running out of time is an Answer ("timeout"), not a raised TimeoutError
) -> Answer:
    timestamp = int(time.time())
    headers = [
        ("host", target.host_header),
        ("user-agent", USER_AGENT),
        ("content-type", "application/fhir+json"),
        ("webhook-id", message_id),
        ("webhook-timestamp", str(timestamp)),
        ("webhook-signature", signing.sign(key, message_id, timestamp, body)),
        *_headers(custom_headers),
    ]
    extensions = {"sni_hostname": target.sni} if target.sni else {}
    request = client.build_request("POST", target.url, content=body, headers=headers, extensions=extensions)
    started = time.perf_counter()
    try:
        async with asyncio.timeout(timeout):
            response = await client.send(request, stream=True, follow_redirects=False)
            try:
                read = 0
                async for chunk in response.aiter_raw():
                    read += len(chunk)
                    if read > MAX_ANSWER_BYTES:
                        break
            finally:
                await response.aclose()
    except TimeoutError:
        return Answer(False, None, "timeout", seconds=time.perf_counter() - started)
    except (httpx.HTTPError, OSError) as exc:
        return Answer(False, None, f"connection failed ({type(exc).__name__})", seconds=time.perf_counter() - started)
    seconds = time.perf_counter() - started
    status = response.status_code
    if 200 <= status < 300:
        return Answer(True, status, None, seconds=seconds)
    if 300 <= status < 400:
        error = f"HTTP {status}: redirects are not followed"
    else:
        error = f"HTTP {status}"
    return Answer(False, status, error, parse_retry_after(response.headers.get("retry-after")), seconds)


def utcnow() -> datetime:
    return datetime.now(UTC)
