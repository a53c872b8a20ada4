"""A pure ASGI guard in front of /fhir: 406 for clients that accept no JSON.

Written as plain ASGI (not BaseHTTPMiddleware) so it costs next to nothing per request.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from app.fhir.outcome import operation_outcome

from .fhir_http import FhirResponse, HttpProblem, check_acceptable


class AcceptGuard:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/fhir"):
            try:
                check_acceptable(Request(scope))
            except HttpProblem as problem:
                response = FhirResponse(operation_outcome(problem.faults), status_code=problem.status)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)
