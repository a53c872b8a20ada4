"""A pure ASGI guard in front of /fhir: 406 for clients that accept no JSON (nor HTML, where a
page is served).

Written as plain ASGI (not BaseHTTPMiddleware) so it costs next to nothing per request.
"""

from __future__ import annotations

import re

from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from app.fhir.outcome import operation_outcome

from .fhir_http import FhirResponse, HttpProblem, check_acceptable

# Reads that also answer a page for people (text/html): a CarePlan.
HTML_READS = re.compile(r"^/fhir/CarePlan/[^/$][^/]*$")


class AcceptGuard:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/fhir"):
            try:
                html = scope["method"] == "GET" and HTML_READS.match(scope["path"]) is not None
                check_acceptable(Request(scope), html_allowed=html)
            except HttpProblem as problem:
                response = FhirResponse(operation_outcome(problem.faults), status_code=problem.status)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)
