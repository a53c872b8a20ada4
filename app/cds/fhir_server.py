"""Fetching what the EHR did not prefetch, from its FHIR server (CDS Hooks 2.0 § FHIR Resource
Access), with the SSRF rules of outgoing webhooks (app.subscriptions.outbound).

The `fhirAuthorization` bearer token goes only to the hook's own `fhirServer`, and only when the
operator allowlisted that base URL (LBP_CDS_FHIR_SERVERS). The host is resolved once and every
address checked (https; private or loopback addresses only for allowlisted hosts, which are the
allowlisted servers' own); the connection goes to the checked address; redirects are never
followed; the answer is size-limited.
"""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import quote

import httpx
import orjson

from app import __version__
from app.fhir.outcome import HttpProblem
from app.subscriptions.outbound import OutboundPolicy, Refused

TIMEOUT_SECONDS = 10.0
MAX_ANSWER_BYTES = 2 * 1024 * 1024
USER_AGENT = f"lbp-triage-cds/{__version__}"


def _normalised(url: str) -> str:
    return url.strip().rstrip("/")


class FhirServers:
    """The allowlist of EHR FHIR servers, and the one way to query them."""

    def __init__(self, setting: str) -> None:
        self.allowed = frozenset(_normalised(u) for u in setting.split(",") if u.strip())
        hosts = []
        for url in self.allowed:
            try:
                hosts.append(httpx.URL(url).host)
            except Exception:  # an unparsable entry allowlists nothing
                continue
        self.policy = OutboundPolicy(hosts)

    def permits(self, fhir_server: str) -> bool:
        return _normalised(fhir_server) in self.allowed

    async def latest_response(self, fhir_server: str, authorization: dict[str, Any] | None, patient: str) -> Any:
        """The prefetch template's query, run against the EHR: the Bundle it answers."""
        if not self.permits(fhir_server):
            raise HttpProblem(
                412,
                "forbidden",
                "fhirServer is not an allowlisted FHIR server, so the missing prefetch lbpResponse cannot be fetched.",
            )
        token = None
        if authorization is not None:  # without it the EHR's server must be open to this service
            token = authorization.get("access_token")
            if authorization.get("token_type") != "Bearer" or not isinstance(token, str) or not token:
                raise HttpProblem(400, "invalid", "fhirAuthorization must carry token_type Bearer and an access_token.")
        query = (
            f"{_normalised(fhir_server)}/QuestionnaireResponse?subject={quote('Patient/' + patient, safe='/')}"
            "&_sort=-authored&_count=1"
        )
        try:
            target = await self.policy.resolve(query)
        except Refused as exc:
            raise HttpProblem(412, "forbidden", f"fhirServer cannot be reached: {exc}") from None
        headers = {"Host": target.host_header, "Accept": "application/fhir+json", "User-Agent": USER_AGENT}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        extensions = {"sni_hostname": target.sni} if target.sni else {}
        try:
            async with httpx.AsyncClient(follow_redirects=False, trust_env=False, timeout=None) as client:
                request = client.build_request("GET", target.url, headers=headers, extensions=extensions)
                async with asyncio.timeout(TIMEOUT_SECONDS):
                    response = await client.send(request, stream=True)
                    try:
                        body = bytearray()
                        async for chunk in response.aiter_bytes():
                            body += chunk
                            if len(body) > MAX_ANSWER_BYTES:
                                raise HttpProblem(412, "too-costly", "fhirServer's answer is too large.")
                    finally:
                        await response.aclose()
        except (TimeoutError, httpx.HTTPError, OSError):
            raise HttpProblem(412, "transient", "fhirServer did not answer the lbpResponse query.") from None
        if response.status_code != 200:
            raise HttpProblem(
                412, "processing", f"fhirServer answered the lbpResponse query with HTTP {response.status_code}."
            )
        try:
            return orjson.loads(bytes(body))
        except orjson.JSONDecodeError:
            raise HttpProblem(412, "processing", "fhirServer's answer is not JSON.") from None
