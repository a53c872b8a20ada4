"""GET /fhir/AuditEvent: the audit trail, newest first (its own scope: system/AuditEvent.rs)."""

from __future__ import annotations

from functools import partial

import anyio
from fastapi import APIRouter, Request
from starlette.responses import Response

from app.fhir.bundle import searchset
from app.fhir.search import date_range, narrow_range, decode_cursor, encode_cursor, search_url
from app.kit.fhir_http import FhirResponse, HttpProblem, fhir_base
from app.security.audit import audit_event

from .docs import fhir_ok, query_parameters

router = APIRouter(prefix="/fhir", tags=["Audit"])


@router.get("/AuditEvent", summary="Search the audit trail", response_class=FhirResponse,
            description="Every read, search, triage and subscription change: who, what, when, outcome and "
            "from where, newest first. Needs the scope system/AuditEvent.rs (or .read).",
            responses=fhir_ok("A searchset Bundle of AuditEvents", "Bundle"),
            openapi_extra=query_parameters(
                ("patient", "Only records about this patient", {"type": "string"}),
                ("date", "Recorded, with a prefix (ge2026-01-01); repeatable", {"type": "string"}),
                ("_count", "Results per page", {"type": "integer", "minimum": 0})))
async def search_audit(request: Request) -> Response:
    settings = request.app.state.settings
    bounds: list = [None, None]
    applied, patient, count, after = [], None, settings.page_size, None
    for name, value in request.query_params.multi_items():
        if name == "patient":
            patient = value.rsplit("/", 1)[-1]
        elif name == "date":
            narrow_range(bounds, *date_range(value))
        elif name == "_count":
            if not value.isdigit():
                raise HttpProblem(400, "invalid", "_count must be a whole number.")
            count = min(int(value), settings.max_page_size)
        elif name == "_cursor":
            after = decode_cursor(value)
            continue
        else:
            continue
        applied.append((name, value))
    page = await anyio.to_thread.run_sync(partial(
        request.app.state.audit.search, patient=patient, since=bounds[0], before=bounds[1], count=count,
        after=after))
    base = fhir_base(request, settings.public_base_url)
    next_url = search_url(base, "AuditEvent", applied, encode_cursor(page.last_key)) if page.last_key else None
    bundle = searchset([audit_event(r) for r in page.rows], page.total, base,
                       search_url(base, "AuditEvent", applied, request.query_params.get("_cursor")), next_url)
    return FhirResponse(bundle)


@router.get("/AuditEvent/{audit_id}", summary="Read one audit record", response_class=FhirResponse,
            responses=fhir_ok("The AuditEvent", "AuditEvent"))
async def read_audit(audit_id: str, request: Request) -> Response:
    row = await anyio.to_thread.run_sync(request.app.state.audit.read, audit_id)
    if row is None:
        raise HttpProblem(404, "not-found", "No AuditEvent with this id.")
    return FhirResponse(audit_event(row))
