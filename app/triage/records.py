"""Reads and searches of what each triage stored: CarePlan, Encounter, QuestionnaireResponse."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import partial

import anyio
from fastapi import APIRouter, Request
from starlette.responses import HTMLResponse, Response

from app.fhir.bundle import history, searchset
from app.fhir.http import FhirResponse, fhir_base, version_headers, wants_html
from app.fhir.openapi import SEARCH_RULES, fhir_ok, search_parameters
from app.fhir.outcome import HttpProblem
from app.fhir.search import encode_cursor, is_lenient, parse_search, search_url
from app.security.context import Context, RequestContext
from app.security.principal import patient_of
from app.settings import AppSettings
from app.triage.deps import Encounters
from app.triage.page import PAGE_HEADERS, careplan_page
from app.triage.repository import EncounterRepository

router = APIRouter(prefix="/fhir", tags=["Results"])

PLAIN_WORDS = {
    "CarePlan": "the plan each triage produced: disposition, findings and activities",
    "Encounter": "the record of each triage encounter",
    "QuestionnaireResponse": "the answers each triage was made from, as stored",
}


def _read_route(resource_type: str) -> Callable[..., Awaitable[Response]]:
    async def read(resource_id: str, request: Request, context: Context, repository: Encounters) -> Response:
        resource = await anyio.to_thread.run_sync(repository.read, resource_type, resource_id)
        patient = patient_of(resource)
        if resource is None or (context.patient_only is not None and patient != context.patient_only):
            # another patient's resource is as invisible to a patient token as a missing one
            raise HttpProblem(404, "not-found", f"No {resource_type} with this id.")
        context.audit_patient = patient
        headers = version_headers(resource)
        page = resource_type == "CarePlan" and wants_html(request)
        if page:  # the same resource, access rules and audit; a page a clinician reads
            headers = {**headers, **PAGE_HEADERS}
            if "ETag" in headers:  # another representation, another validator
                headers["ETag"] = headers["ETag"][:-1] + '-html"'
        if request.headers.get("if-none-match") in (headers.get("ETag"), headers.get("ETag", "")[2:]):
            return Response(status_code=304, headers=headers)
        if page:
            return HTMLResponse(careplan_page(resource), headers=headers)
        return FhirResponse(resource, headers=headers)

    read.__name__ = f"read_{resource_type.lower()}"
    return read


async def _visible_history(
    repository: EncounterRepository, context: RequestContext, resource_type: str, resource_id: str
) -> list[dict]:
    """Every version of the resource, newest first, bound like a read: one of another patient
    is as invisible to a patient token as a missing one."""
    versions = await anyio.to_thread.run_sync(repository.history, resource_type, resource_id)
    patient = patient_of(versions[0]) if versions else None
    if not versions or (context.patient_only is not None and patient != context.patient_only):
        raise HttpProblem(404, "not-found", f"No {resource_type} with this id.")
    context.audit_patient = patient
    return versions


def _history_route(resource_type: str) -> Callable[..., Awaitable[Response]]:
    async def history_instance(
        resource_id: str, request: Request, settings: AppSettings, context: Context, repository: Encounters
    ) -> Response:
        versions = await _visible_history(repository, context, resource_type, resource_id)
        base = fhir_base(request, settings)
        return FhirResponse(history(versions, base, f"{base}/{resource_type}/{resource_id}/_history"))

    history_instance.__name__ = f"history_{resource_type.lower()}"
    return history_instance


def _vread_route(resource_type: str) -> Callable[..., Awaitable[Response]]:
    async def vread(resource_id: str, version_id: str, context: Context, repository: Encounters) -> Response:
        versions = await _visible_history(repository, context, resource_type, resource_id)
        found = next((v for v in versions if v["meta"]["versionId"] == version_id), None)
        if found is None:
            raise HttpProblem(404, "not-found", f"This {resource_type} has no such version.")
        return FhirResponse(found, headers=version_headers(found))

    vread.__name__ = f"vread_{resource_type.lower()}"
    return vread


def _search_route(resource_type: str) -> Callable[..., Awaitable[Response]]:
    async def search(request: Request, settings: AppSettings, context: Context, repository: Encounters) -> Response:
        context.audit_patient = request.query_params.get("patient") or (
            request.query_params.get("subject", "").rsplit("/", 1)[-1] or None
        )
        query, search = parse_search(
            resource_type,
            list(request.query_params.multi_items()),
            default_count=settings.page_size,
            max_count=settings.max_page_size,
            lenient=is_lenient(request),
        )
        page = await anyio.to_thread.run_sync(partial(repository.search, query))
        base = fhir_base(request, settings)
        self_url = search_url(base, resource_type, search.applied, search.cursor)
        next_url = (
            search_url(base, resource_type, search.applied, encode_cursor(page.last_key)) if page.last_key else None
        )
        return FhirResponse(searchset(page.resources, page.total, base, self_url, next_url))

    search.__name__ = f"search_{resource_type.lower()}"
    return search


def _read_responses(resource_type: str) -> dict:
    responses = fhir_ok(f"The {resource_type}", resource_type)
    if resource_type == "CarePlan":  # and, for people, a page
        responses[200]["content"]["text/html"] = {"schema": {"type": "string"}}
    return responses


async def explain_careplan(resource_id: str, context: Context, repository: Encounters) -> Response:
    from app.triage.explain import explain_response

    found = await anyio.to_thread.run_sync(repository.triage_of, resource_id)
    patient = patient_of(found[0]) if found else None
    if found is None or (context.patient_only is not None and patient != context.patient_only):
        raise HttpProblem(404, "not-found", "No CarePlan with this id.")
    context.audit_patient = patient
    _, response, rules_version = found
    return FhirResponse(explain_response(response, rules_version))


router.add_api_route(
    "/CarePlan/{resource_id}/$explain",
    explain_careplan,
    methods=["GET"],
    response_class=FhirResponse,
    summary="Explain a CarePlan line by line",
    description="For the triage behind a CarePlan: the rules version, the disposition, and each finding "
    "with its tier, the rule row's condition and source, and the answers that fired it (plus the STarT "
    "Back scores and each medicine decision under rules 2), as a FHIR Parameters resource. The stored "
    "response is re-run through the rules version stored with it. Same scopes and patient checks as "
    "reading the CarePlan.",
    responses=fhir_ok("The explanation", "Parameters"),
    tags=["Results"],
)

for _type in ("CarePlan", "Encounter", "QuestionnaireResponse"):
    router.add_api_route(
        f"/{_type}/{{resource_id}}",
        _read_route(_type),
        methods=["GET"],
        response_class=FhirResponse,
        summary=f"Read a {_type}",
        description=f"Read one {_type}: {PLAIN_WORDS[_type]}. "
        "Answers with ETag and meta.versionId; If-None-Match gives 304."
        + (
            " With `Accept: text/html` or `_format=html`, a page a clinician reads in a browser (disposition, "
            "findings with their answers, the plan, status, rules version)."
            if _type == "CarePlan"
            else ""
        ),
        responses=_read_responses(_type),
        tags=["Results"],
    )
    router.add_api_route(
        f"/{_type}/{{resource_id}}/_history",
        _history_route(_type),
        methods=["GET"],
        response_class=FhirResponse,
        summary=f"Every version of a {_type}",
        description=f"Every version of one {_type}, newest first, as a Bundle of type `history`. "
        + (
            "A CarePlan replaced when its response was amended shows its active version and then its revoked one."
            if _type == "CarePlan"
            else "An amended response gives a new version each time it is triaged again."
        ),
        responses=fhir_ok("A history Bundle", "Bundle"),
        tags=["Results"],
    )
    router.add_api_route(
        f"/{_type}/{{resource_id}}/_history/{{version_id}}",
        _vread_route(_type),
        methods=["GET"],
        response_class=FhirResponse,
        summary=f"Read one version of a {_type}",
        description=f"One version of a {_type} (its `meta.versionId`), with ETag.",
        responses=fhir_ok(f"The {_type} in that version", _type),
        tags=["Results"],
    )
    router.add_api_route(
        f"/{_type}",
        _search_route(_type),
        methods=["GET"],
        response_class=FhirResponse,
        summary=f"Search {_type} resources",
        description=f"Search {PLAIN_WORDS[_type]}, newest first. Follow the Bundle's `next` link for "
        "more pages. " + SEARCH_RULES,
        responses=fhir_ok("A searchset Bundle", "Bundle"),
        tags=["Results"],
        openapi_extra=search_parameters(_type),
    )
