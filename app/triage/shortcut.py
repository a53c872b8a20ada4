"""POST $triage without FastAPI's per-request routing work.

$triage is the one hot path of the service. FastAPI finds its route among all the others,
solves its dependencies and wraps its call on every request; this ASGI layer, innermost (just
outside the router, inside the exception handlers), recognises the one request shape and calls
the route's own endpoint with what its dependencies would give: the request context the access
layer made and the triage services the lifespan made. Everything else (errors, audit, metrics,
the answer) is what the route does. Anything it is not sure of goes to the router as before:
another path or method, a root path, dependency overrides (tests).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from app.security.context import CONTEXT
from app.triage.deps import TriageServices
from app.triage.router import router, triage_response


class TriageShortcut:
    def __init__(self, app: ASGIApp, fastapi: FastAPI) -> None:
        self.app = app
        self.fastapi = fastapi
        # the route whose endpoint this calls: its path is the one served, its template the metrics label
        self.route = next(r for r in router.routes if isinstance(r, APIRoute) and r.endpoint is triage_response)
        self.path = self.route.path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] != "POST"
            or scope["path"] != self.path
            or scope.get("root_path")
            or self.fastapi.dependency_overrides
            or CONTEXT not in scope
        ):
            await self.app(scope, receive, send)
            return
        scope["route"] = self.route
        scope["endpoint"] = triage_response
        scope["path_params"] = {}
        triage: TriageServices = self.fastapi.state.services.triage
        response = await triage_response(Request(scope, receive, send), scope[CONTEXT], triage)
        await response(scope, receive, send)


def install(app: FastAPI) -> None:
    """Put the shortcut in front of the router (inside the exception handlers)."""
    app_router: Any = app.router
    app_router.middleware_stack = TriageShortcut(app_router.middleware_stack, app)
