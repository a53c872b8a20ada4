"""What the access layer knows of a request, and what routes tell it back for the audit record.

AccessControl (app/security/access.py) creates one RequestContext per request and puts it in
the ASGI scope under CONTEXT; routes take it as a dependency (`context: Context`). Nothing else
passes between the middleware and the routes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from app.security.principal import Principal

CONTEXT = "lbp_triage.context"  # the key in the ASGI scope


@dataclass(slots=True)
class RequestContext:
    request_id: str
    principal: Principal | None = None  # None: a public endpoint, or an unauthenticated refusal
    # A patient-level token's patient: every read, search and write is bound to it.
    patient_only: str | None = None
    # The audit record names what the route did, where the access table alone cannot tell.
    audit_patient: str | None = None
    audit_resource_type: str | None = None
    audit_resource_id: str | None = None
    audit_interaction: str | None = None
    audited: bool = False  # the route wrote its audit record itself, in its transaction


# Dependencies are coroutines: FastAPI runs a plain function in its thread pool, which would
# cost a thread hop per request for reading one attribute.
async def request_context(request: Request) -> RequestContext:
    context: RequestContext = request.scope[CONTEXT]
    return context


async def caller(request: Request) -> Principal | None:
    context: RequestContext = request.scope[CONTEXT]
    return context.principal


Context = Annotated[RequestContext, Depends(request_context)]
Caller = Annotated[Principal | None, Depends(caller)]
