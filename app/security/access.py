"""Access control in front of the FHIR API, as one pure ASGI middleware:

rate-limit per client address → authenticate → rate-limit per principal → check the SMART scope for (resource type, interaction) →
narrow patient/ tokens to their patient → 406 unless the client accepts JSON → run the request →
audit it → count it (Prometheus) → log it.

One layer for all of it, one pass over the request: each ASGI layer costs its own wrapped
`send` and await on every request, and these steps all need the same status and timing.

The table below says which scope each endpoint needs; conformance resources (metadata,
Questionnaire, CodeSystem, OperationDefinition, ValueSet and the rules as PlanDefinition,
ActivityDefinition and Library) and the operational endpoints outside /fhir are public.
"""

from __future__ import annotations

import logging
import os
import re
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.fhir.errors import problem_response
from app.fhir.guard import unacceptable
from app.fhir.http import FhirResponse
from app.fhir.outcome import HttpProblem
from app.kit.logs import write_line
from app.kit.metrics import RequestMetrics
from app.security.audit import REFUSALS, RefusalAggregator, audit_row
from app.security.authn import Authenticator, IssuerUnavailable, LocalOnly, Unauthenticated
from app.security.context import CONTEXT, RequestContext
from app.security.principal import Principal
from app.security.ratelimit import RateLimiter, retry_after

log = logging.getLogger("lbp_triage.access")
STORED = "CarePlan|Encounter|QuestionnaireResponse"


@dataclass(frozen=True, slots=True)
class Rule:
    method: str
    path: re.Pattern[str]
    resource_type: str | None  # None: public
    interaction: str = "read"


def _rule(method: str, pattern: str, resource_type: str | None, interaction: str = "read") -> Rule:
    return Rule(method, re.compile(f"^/fhir{pattern}$"), resource_type, interaction)


RULES: tuple[Rule, ...] = (
    _rule("GET", r"/metadata", None),
    _rule("GET", r"/\.well-known/smart-configuration", None),
    _rule(
        "GET",
        r"/(?:Questionnaire|CodeSystem|OperationDefinition|ValueSet|PlanDefinition|ActivityDefinition"
        r"|Library)(?:/[^/]+)?",
        None,
    ),
    _rule("POST", r"/QuestionnaireResponse/\$triage", "QuestionnaireResponse", "create"),
    # $apply processes the same PHI as $triage (and with persist=true stores it): the same scope
    _rule("POST", r"/PlanDefinition(?:/[^/$][^/]*)?/\$apply", "QuestionnaireResponse", "create"),
    _rule("GET", rf"/(?P<type>{STORED})/(?P<id>[^/$][^/]*)", "*", "read"),
    _rule("GET", rf"/(?P<type>{STORED})/(?P<id>[^/$][^/]*)/_history", "*", "history-instance"),
    _rule("GET", rf"/(?P<type>{STORED})/(?P<id>[^/$][^/]*)/_history/[^/]+", "*", "vread"),
    # the explanation of a CarePlan is read with the CarePlan's own scope and patient check
    _rule("GET", r"/(?P<type>CarePlan)/(?P<id>[^/$][^/]*)/\$explain", "*", "read"),
    _rule("GET", rf"/(?P<type>{STORED})", "*", "search"),
    _rule("POST", r"/Subscription", "Subscription", "create"),
    _rule("GET", r"/Subscription(?:/\$status)?", "Subscription", "search"),
    _rule("GET", r"/Subscription/(?P<id>[^/$][^/]*)(?:/\$status|/\$deliveries)?", "Subscription", "read"),
    _rule("DELETE", r"/Subscription/(?P<id>[^/$][^/]*)", "Subscription", "delete"),
    _rule("POST", r"/Subscription/(?P<id>[^/$][^/]*)/\$resend", "Subscription", "update"),
    _rule("GET", r"/AuditEvent(?:/(?P<id>[^/]+))?", "AuditEvent", "read"),
)
# Resource types a patient/ grant may reach (Subscriptions and the audit trail are not a patient's).
PATIENT_SCOPED = frozenset({"CarePlan", "Encounter", "QuestionnaireResponse"})


def match(method: str, path: str) -> tuple[Rule | None, dict[str, str]]:
    for rule in RULES:
        if rule.method == method:
            found = rule.path.match(path)
            if found:
                return rule, found.groupdict()
    return None, {}


def _outcome(status: int, code: str, text: str, headers: dict[str, str] | None = None) -> FhirResponse:
    # answered here, outside the exception handlers, as they would answer it
    return problem_response(HttpProblem(status, code, text, headers))


class AccessControl:
    def __init__(
        self,
        app: ASGIApp,
        authenticator: Authenticator,
        limiter: RateLimiter,
        address_limiter: RateLimiter | None = None,
        refusals: RefusalAggregator | None = None,
    ) -> None:
        self.app = app
        self.authenticator = authenticator
        self.limiter = limiter
        # Before authentication, per client address: invalid tokens cost no more than a lookup.
        self.address_limiter = address_limiter or RateLimiter(0)
        self.refusals = refusals or RefusalAggregator()
        self.metrics = RequestMetrics()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        request_id = os.urandom(8).hex()  # 16 hex digits, as uuid4().hex[:16] gave, for less
        context = scope[CONTEXT] = RequestContext(request_id)
        status = 500

        async def send_tracking(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", []).append((b"x-request-id", request_id.encode()))
            await send(message)

        path: str = scope["path"]
        fhir = path.startswith("/fhir")
        rule, params = match(scope["method"], path) if fhir else (None, {})
        principal: Principal | None = None
        resource_type = interaction = None
        try:
            if fhir and (rule is None or rule.resource_type is not None):
                resource_type = params.get("type") or (rule.resource_type if rule else None)
                interaction = rule.interaction if rule else "read"
                if rule and rule.resource_type == "AuditEvent" and not params.get("id"):
                    interaction = "search"
                refusal, principal = await self._admit(scope, context, resource_type, interaction)
                if refusal is not None:
                    await refusal(scope, receive, send_tracking)
                    return
                context.principal = principal
            refusal = unacceptable(scope) if fhir else None  # admitted (or public): does it take JSON?
            if refusal is not None:
                await refusal(scope, receive, send_tracking)
                return
            await self.app(scope, receive, send_tracking)
        finally:
            seconds = time.perf_counter() - start
            if rule is not None and rule.resource_type is not None and not context.audited:
                # a route may name what was done more exactly (PlanDefinition/$apply that stored nothing)
                self._audit(
                    scope,
                    principal,
                    context.audit_resource_type or resource_type,
                    context.audit_interaction or interaction or "read",
                    context.audit_resource_id or params.get("id"),
                    context.audit_patient,
                    status,
                )
            # by route template: never the raw path, which holds ids, nor the query string
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            self.metrics.count(scope["method"], route, status, seconds)
            if log.isEnabledFor(logging.INFO):
                fields = {
                    "request_id": request_id,
                    "method": scope["method"],
                    "route": route,
                    "status": status,
                    "ms": round(seconds * 1000, 2),
                    "agent": principal.subject if principal else None,
                }
                if not write_line(log, "request", fields):
                    log.info("request", extra=fields)

    async def _admit(
        self, scope: Scope, context: RequestContext, resource_type: str | None, interaction: str
    ) -> tuple[Any, Principal | None]:
        headers = dict(scope.get("headers") or [])
        client = scope.get("client")
        host = client[0] if client else None
        wait = self.address_limiter.take(host or "local")
        if wait:
            return _outcome(
                429, "throttled", "Too many requests from this address; slow down.", {"Retry-After": retry_after(wait)}
            ), None
        try:
            authorization = headers.get(b"authorization")
            proxied = any(h in headers for h in (b"forwarded", b"x-forwarded-for", b"x-real-ip"))
            principal = await self.authenticator.authenticate_async(
                authorization.decode("latin-1") if authorization else None, host, proxied
            )
        except LocalOnly:
            return _outcome(
                403,
                "forbidden",
                "This server runs without authentication (LBP_AUTH_MODE=none) and "
                "serves only clients on the same machine.",
            ), None
        except IssuerUnavailable:
            return _outcome(
                503, "transient", "The token issuer's keys cannot be fetched; try again shortly.", {"Retry-After": "10"}
            ), None
        except Unauthenticated as exc:
            challenge = 'Bearer realm="lbp-triage"' + (f', error="{exc.error}"' if exc.error else "")
            return _outcome(401, "login", exc.reason, {"WWW-Authenticate": challenge}), None
        wait = self.limiter.take(principal.subject if not principal.unrestricted else (host or "local"))
        if wait:
            return _outcome(
                429, "throttled", "Too many requests; slow down.", {"Retry-After": retry_after(wait)}
            ), principal
        if resource_type is None:  # an unknown /fhir path: a valid token gets the router's 404/405
            return None, principal
        grant = principal.permits(resource_type, interaction)
        if grant is None:
            return _outcome(
                403,
                "forbidden",
                f"The token's scopes do not allow {interaction} of {resource_type}.",
                {"WWW-Authenticate": 'Bearer realm="lbp-triage", error="insufficient_scope"'},
            ), principal
        if grant.level == "patient":
            if resource_type not in PATIENT_SCOPED or not principal.patient:
                return _outcome(403, "forbidden", "A patient-level token cannot reach this resource."), principal
            context.patient_only = principal.patient
            if interaction == "search":  # narrow every search to the token's patient
                extra = f"patient={quote(principal.patient)}".encode()
                query = scope.get("query_string", b"")
                scope["query_string"] = query + b"&" + extra if query else extra
        return None, principal

    def _audit(
        self,
        scope: Scope,
        principal: Principal | None,
        resource_type: str | None,
        interaction: str,
        resource_id: str | None,
        patient: str | None,
        status: int,
    ) -> None:
        # the running app's services (app/services.py); none before its lifespan opened the database
        services = getattr(getattr(scope.get("app"), "state", None), "services", None)
        if services is None:
            return
        writer, audit = services.writer, services.audit
        client = scope.get("client")
        row = audit_row(
            interaction=interaction,
            resource_type=resource_type,
            resource_id=resource_id,
            patient=patient or (principal.patient if principal else None),
            agent=principal.subject if principal else "anonymous",
            client_address=client[0] if client else None,
            status=status,
        )
        rows = self.refusals.note(row) if status in REFUSALS else [row, *self.refusals.due()]
        for row in rows:
            writer.submit(audit.record, row)  # after the answer is sent; never delays it
