"""HTTP: GET /cds-services (discovery), POST /cds-services/{id} (a hook call),
POST /cds-services/{id}/feedback."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import partial
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Depends, FastAPI, Request
from prometheus_client import Counter
from sqlalchemy import Engine
from starlette.responses import JSONResponse, Response

from app.cds import cards
from app.cds.feedback import feedback_rows, store_feedback
from app.cds.fhir_server import FhirServers
from app.cds.imaging import imaging_codes, imaging_orders, value_set
from app.cds.latest import LatestTriage, Untriageable, response_in, stored_latest, triage_in_memory
from app.cds.security import CdsAuthenticator, CdsCaller
from app.cds.services import IMAGING, PREFETCH_KEY, SERVICES, Service, discovery
from app.conformance.published import PublishedKind, publish
from app.fhir.http import read_json, service_base
from app.fhir.openapi import Responses, outcome_response
from app.fhir.outcome import FhirError, HttpProblem
from app.rules import RULES_VERSION
from app.security.audit import audit_row
from app.services import AppServices, Services
from app.settings import AppSettings, Settings
from app.store.deps import Database

_ERRORS: Responses = {
    400: outcome_response("The request is not a CDS Hooks request for this service"),
    401: outcome_response("No valid JWT from an allowlisted EHR (or a replayed one)"),
    403: outcome_response("Auth mode none: clients on this machine only"),
    404: outcome_response("No such CDS service"),
    413: outcome_response("The body is too large"),
    415: outcome_response("The body is not JSON"),
}
_JSON_OBJECT = {"type": "object"}
_CALL_EXAMPLE = {
    "hook": "patient-view",
    "hookInstance": "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea",
    "context": {"userId": "Practitioner/example", "patientId": "123"},
    "prefetch": {"lbpResponse": None},
}


def _body(description: str, schema: dict[str, Any], example: dict[str, Any]) -> dict[str, Any]:
    return {
        "requestBody": {
            "required": True,
            "description": description,
            "content": {"application/json": {"schema": schema, "example": example}},
        }
    }


router = APIRouter(prefix="/cds-services", tags=["CDS Hooks"])
valuesets = APIRouter(prefix="/fhir", tags=["Conformance"])
CALLS = Counter("lbp_cds_calls", "CDS Hooks service calls answered, by service and hook.", ["service", "hook"])
CARDS = Counter("lbp_cds_cards", "CDS Hooks cards returned, by service and indicator.", ["service", "indicator"])
_FHIR_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")
_PROXY_HEADERS = ("forwarded", "x-forwarded-for", "x-real-ip")


@dataclass(frozen=True, slots=True)
class CdsClients:
    """Who may call (the EHRs' JWT) and which FHIR servers may be asked: made once, from settings."""

    authenticator: CdsAuthenticator
    fhir_servers: FhirServers


def install(app: FastAPI) -> None:
    settings = app.state.settings
    app.state.cds = CdsClients(CdsAuthenticator(settings), FhirServers(settings.cds_fhir_servers))
    app.include_router(router)
    app.include_router(valuesets)


async def cds_clients(request: Request) -> CdsClients:
    clients: CdsClients = request.app.state.cds
    return clients


Clients = Annotated[CdsClients, Depends(cds_clients)]


def _service(service_id: str) -> Service:
    service = SERVICES.get(service_id)
    if service is None:
        raise HttpProblem(404, "not-found", "No such CDS service; see GET /cds-services.")
    return service


async def _caller(request: Request, clients: CdsClients, engine: Engine, audiences: list[str]) -> CdsCaller:
    proxied = any(h in request.headers for h in _PROXY_HEADERS)
    return await clients.authenticator.authenticate(
        request.headers.get("authorization"),
        request.client.host if request.client else None,
        proxied,
        audiences,
        engine,
    )


@router.get(
    "",
    summary="CDS Hooks discovery: the services offered",
    responses={
        200: {
            "description": "The services, their hooks and prefetch templates",
            "content": {"application/json": {"schema": _JSON_OBJECT}},
        }
    },
)
async def cds_discovery() -> JSONResponse:
    return JSONResponse(discovery())


def _checked_request(service: Service, body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise HttpProblem(400, "structure", "A CDS Hooks request is a JSON object.")
    if body.get("hook") not in service.hooks:
        raise HttpProblem(400, "value", f"This service answers the hooks {', '.join(service.hooks)}.")
    if not isinstance(body.get("hookInstance"), str) or not body["hookInstance"]:
        raise HttpProblem(400, "required", "hookInstance is required.")
    context = body.get("context")
    if (
        not isinstance(context, dict)
        or not isinstance(context.get("patientId"), str)
        or not _FHIR_ID.match(context["patientId"])
    ):
        raise HttpProblem(400, "required", "context.patientId must be a Patient id.")
    for name in ("prefetch", "fhirAuthorization"):
        if body.get(name) is not None and not isinstance(body[name], dict):
            raise HttpProblem(400, "structure", f"{name} must be an object.")
    if body.get("fhirServer") is not None and not isinstance(body["fhirServer"], str):
        raise HttpProblem(400, "structure", "fhirServer must be a URL.")
    if body.get("fhirAuthorization") is not None:
        if not body.get("fhirServer"):
            raise HttpProblem(400, "required", "fhirAuthorization comes with a fhirServer.")
        bound = body["fhirAuthorization"].get("patient")
        if bound is not None and bound != context["patientId"]:
            raise HttpProblem(
                400, "business-rule", "fhirAuthorization is bound to another patient than context.patientId."
            )
    if service.kind == IMAGING and not isinstance(context.get("draftOrders"), dict):
        raise HttpProblem(400, "required", "context.draftOrders (a Bundle) is required for order hooks.")
    return body


async def _latest(clients: CdsClients, engine: Engine, body: dict[str, Any]) -> LatestTriage | None:
    """The EHR's latest response (prefetched, or fetched from its FHIR server) triaged in memory;
    without one, the latest triage stored here. Raises Untriageable."""
    patient = body["context"]["patientId"]
    prefetch = body.get("prefetch") or {}
    if PREFETCH_KEY in prefetch:
        value = prefetch[PREFETCH_KEY]
    elif body.get("fhirServer"):
        value = await clients.fhir_servers.latest_response(body["fhirServer"], body.get("fhirAuthorization"), patient)
    else:
        # CDS Hooks 2.0 § Prefetch: the data is needed and cannot be fetched.
        raise HttpProblem(
            412, "required", f"Prefetch {PREFETCH_KEY} is missing and there is no fhirServer to fetch it from."
        )
    response = response_in(value, patient)
    if response is not None:
        return triage_in_memory(response)
    return await anyio.to_thread.run_sync(stored_latest, engine, patient)


def _audit(
    request: Request, services: Services, agent: str, patient: str | None, careplan_id: str | None, status: int
) -> None:
    """Every hook call is an access to a patient's triage: recorded like a CarePlan read,
    refused and failed calls included (as the FHIR API records them)."""
    row = audit_row(
        interaction="read",
        resource_type="CarePlan",
        resource_id=careplan_id,
        patient=patient,
        agent=agent,
        client_address=request.client.host if request.client else None,
        status=status,
    )
    services.writer.submit(services.audit.record, row)


def _triage_cards(base: str, triage: LatestTriage) -> list[dict[str, Any]]:
    page = f"{base}/fhir/CarePlan/{triage.careplan['id']}?_format=html" if triage.stored else None
    return [cards.triage_card(triage, page)]


def _imaging_cards(settings: Settings, body: dict[str, Any], triage: LatestTriage) -> list[dict[str, Any]]:
    codes = imaging_codes(settings.cds_imaging_codes)
    orders = imaging_orders(body["context"]["draftOrders"], codes)
    if not orders:
        return []
    patient = body["context"]["patientId"]
    if any((o.get("subject") or {}).get("reference", f"Patient/{patient}") != f"Patient/{patient}" for o in orders):
        # never advise on (nor suggest deleting) an order for someone else
        raise HttpProblem(400, "business-rule", "A draft order's subject is not context.patientId.")
    if triage.red_flags:
        return [cards.imaging_red_flags_card(triage)]
    if triage.acute:
        return [cards.imaging_warning_card(triage, order) for order in orders]
    return []  # pain for 6 weeks or more: the measure and the guide no longer advise against imaging


@router.post(
    "/{service_id}",
    summary="Call a CDS service (CDS Hooks 2.0 request)",
    description="The EHR's hook request; answers `{\"cards\": [...]}`. See the integration guide's "
    "CDS Hooks chapter for each hook.",
    responses={
        200: {"description": "The cards", "content": {"application/json": {"schema": _JSON_OBJECT}}},
        **_ERRORS,
        412: outcome_response("Prefetch lbpResponse is missing and cannot be fetched"),
    },
    openapi_extra=_body(
        "A CDS Hooks 2.0 request",
        {
            "type": "object",
            "required": ["hook", "hookInstance", "context"],
            "properties": {
                "hook": {"type": "string"},
                "hookInstance": {"type": "string"},
                "context": {"type": "object"},
                "prefetch": {"type": "object"},
                "fhirServer": {"type": "string"},
                "fhirAuthorization": {"type": "object"},
            },
        },
        _CALL_EXAMPLE,
    ),
)
async def call_service(
    service_id: str, request: Request, settings: AppSettings, services: AppServices, clients: Clients
) -> JSONResponse:
    service = _service(service_id)
    agent, patient, careplan_id, status = "anonymous", None, None, 500
    try:
        base = service_base(request, settings)  # the token's audience names it
        caller = await _caller(request, clients, services.engine, [f"{base}/cds-services/{service_id}"])
        agent = f"cds:{caller.client}"
        body = _checked_request(service, await read_json(request, settings))
        patient = body["context"]["patientId"]
        answer = await _cards(settings, base, services.engine, clients, service, body)
        careplan_id = answer.careplan_id
        status = 200
    except FhirError as problem:  # the status it is answered with, for the audit record
        status = problem.status
        raise
    finally:
        _audit(request, services, agent, patient, careplan_id, status)
    CALLS.labels(service_id, body["hook"]).inc()
    for card in answer.cards:
        CARDS.labels(service_id, card["indicator"]).inc()
    return JSONResponse({"cards": answer.cards})


@dataclass(frozen=True, slots=True)
class Answer:
    cards: list[dict[str, Any]]
    careplan_id: str | None  # the stored CarePlan the cards were made from, if any


async def _cards(
    settings: Settings, base: str, engine: Engine, clients: CdsClients, service: Service, body: dict[str, Any]
) -> Answer:
    try:
        triage = await _latest(clients, engine, body)
    except Untriageable as exc:
        # the EHR's latest response cannot be triaged: the chart says so; imaging advice waits
        found = [cards.untriageable_card(len(exc.faults), RULES_VERSION)] if service.kind != IMAGING else []
        return Answer(found, None)
    if triage is None:
        return Answer([], None)
    careplan_id = triage.careplan.get("id") if triage.stored else None
    if service.kind == IMAGING:
        return Answer(_imaging_cards(settings, body, triage), careplan_id)
    return Answer(_triage_cards(base, triage), careplan_id)


@router.post(
    "/{service_id}/feedback",
    summary="Feedback on cards: accepted or overridden",
    responses={200: {"description": "Stored"}, **_ERRORS},
    openapi_extra=_body(
        "CDS Hooks 2.0 feedback",
        {"type": "object", "required": ["feedback"], "properties": {"feedback": {"type": "array"}}},
        {
            "feedback": [
                {
                    "card": "9368d37b-283f-44a0-93ea-547cebab93ab",
                    "outcome": "accepted",
                    "acceptedSuggestions": [{"id": "e56e1945-20b3-4393-8503-a1a20fd73152"}],
                    "outcomeTimestamp": "2026-11-25T12:00:00Z",
                }
            ]
        },
    ),
)
async def feedback(
    service_id: str, request: Request, settings: AppSettings, engine: Database, clients: Clients
) -> Response:
    _service(service_id)
    service_url = f"{service_base(request, settings)}/cds-services/{service_id}"
    caller = await _caller(request, clients, engine, [service_url, f"{service_url}/feedback"])
    body = await read_json(request, settings)
    rows = feedback_rows(service_id, body, caller.client)
    await anyio.to_thread.run_sync(partial(store_feedback, engine, rows))
    return Response(status_code=200)


publish(
    valuesets,
    PublishedKind(
        "ValueSet",
        read_summary="A ValueSet the CDS services use",
        read_description="`lbp-lumbar-imaging`: the lumbar spine imaging orders `lbp-imaging` watches "
        "(the default CPT codes and any added by `LBP_CDS_IMAGING_CODES`).",
        search_summary="List or find the ValueSets",
        instances=lambda settings: [value_set(settings.cds_imaging_codes)],
    ),
)
