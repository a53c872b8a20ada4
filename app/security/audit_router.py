"""GET /fhir/AuditEvent: the audit trail, newest first (its own scope: system/AuditEvent.rs)."""

from __future__ import annotations

from functools import partial

import anyio
from fastapi import APIRouter, Request
from starlette.responses import Response

from app.fhir.bundle import searchset
from app.fhir.http import FhirResponse, fhir_base
from app.fhir.openapi import SEARCH_RULES, fhir_ok, search_parameters
from app.fhir.outcome import HttpProblem
from app.fhir.search import encode_cursor, is_lenient, read_criteria, read_search, search_url
from app.security.audit import audit_event
from app.security.deps import AuditTrail
from app.settings import AppSettings

router = APIRouter(prefix="/fhir", tags=["Audit"])


@router.get(
    "/AuditEvent",
    summary="Search the audit trail",
    response_class=FhirResponse,
    description="Every read, search, triage and subscription change: who, what, when, outcome and "
    "from where, newest first. Needs the scope system/AuditEvent.rs (or .read). " + SEARCH_RULES,
    responses=fhir_ok("A searchset Bundle of AuditEvents", "Bundle"),
    openapi_extra=search_parameters("AuditEvent"),
)
async def search_audit(request: Request, settings: AppSettings, audit: AuditTrail) -> Response:
    search = read_search(
        "AuditEvent", request.query_params.multi_items(), lenient=is_lenient(request), max_count=settings.max_page_size
    )
    found = read_criteria("AuditEvent", search.criteria)
    base = fhir_base(request, settings)
    self_url = search_url(base, "AuditEvent", search.applied, search.cursor)
    if found.impossible:
        return FhirResponse(searchset([], 0, base, self_url, None))
    page = await anyio.to_thread.run_sync(
        partial(
            audit.search,
            ids=found.ids,
            patient=found.patient,
            since=found.bounds[0],
            before=found.bounds[1],
            count=search.count if search.count is not None else settings.page_size,
            after=search.after,
        )
    )
    next_url = search_url(base, "AuditEvent", search.applied, encode_cursor(page.last_key)) if page.last_key else None
    return FhirResponse(searchset([audit_event(r) for r in page.rows], page.total, base, self_url, next_url))


@router.get(
    "/AuditEvent/{audit_id}",
    summary="Read one audit record",
    response_class=FhirResponse,
    responses=fhir_ok("The AuditEvent", "AuditEvent"),
)
async def read_audit(audit_id: str, audit: AuditTrail) -> Response:
    row = await anyio.to_thread.run_sync(audit.read, audit_id)
    if row is None:
        raise HttpProblem(404, "not-found", "No AuditEvent with this id.")
    return FhirResponse(audit_event(row))
