"""Reads and searches of what each triage stored: CarePlan, Encounter, QuestionnaireResponse."""

from __future__ import annotations

from functools import partial

import anyio
from fastapi import APIRouter, Request
from starlette.responses import Response

from app.fhir.bundle import searchset
from app.fhir.search import PARAMETER_DOCS, SEARCH_PARAMETERS, encode_cursor, parse_search, search_url
from app.security.principal import patient_of
from app.kit.fhir_http import FhirResponse, HttpProblem, fhir_base, prefer, version_headers

from .docs import fhir_ok, query_parameters

router = APIRouter(prefix="/fhir", tags=["Results"])

PLAIN_WORDS = {
    "CarePlan": "the plan each triage produced: disposition, findings and activities",
    "Encounter": "the record of each triage encounter",
    "QuestionnaireResponse": "the answers each triage was made from, as stored",
}
_PARAM_SCHEMA = {"reference": {"type": "string"}, "date": {"type": "string"}, "token": {"type": "string"}}


def _read_route(resource_type: str):
    async def read(resource_id: str, request: Request) -> Response:
        repository = request.app.state.repository
        resource = await anyio.to_thread.run_sync(repository.read, resource_type, resource_id)
        patient = patient_of(resource)
        allowed_patient = getattr(request.state, "patient_only", None)
        if resource is None or (allowed_patient is not None and patient != allowed_patient):
            # another patient's resource is as invisible to a patient token as a missing one
            raise HttpProblem(404, "not-found", f"No {resource_type} with this id.")
        request.state.audit_patient = patient
        headers = version_headers(resource)
        if request.headers.get("if-none-match") in (headers.get("ETag"), headers.get("ETag", "")[2:]):
            return Response(status_code=304, headers=headers)
        return FhirResponse(resource, headers=headers)

    read.__name__ = f"read_{resource_type.lower()}"
    return read


def _search_route(resource_type: str):
    async def search(request: Request) -> Response:
        state = request.app.state
        settings = state.settings
        strict = prefer(request, "handling", "lenient") == "strict"
        request.state.audit_patient = request.query_params.get("patient") or (
            request.query_params.get("subject", "").rsplit("/", 1)[-1] or None)
        query, applied = parse_search(resource_type, list(request.query_params.multi_items()),
                                      default_count=settings.page_size, max_count=settings.max_page_size,
                                      strict=strict)
        page = await anyio.to_thread.run_sync(partial(state.repository.search, query))
        base = fhir_base(request, settings.public_base_url)
        self_url = search_url(base, resource_type, applied,
                              request.query_params.get("_cursor"))
        next_url = search_url(base, resource_type, applied, encode_cursor(page.last_key)) if page.last_key else None
        return FhirResponse(searchset(page.resources, page.total, base, self_url, next_url))

    search.__name__ = f"search_{resource_type.lower()}"
    return search


async def explain_careplan(resource_id: str, request: Request) -> Response:
    from app.explain import explain_response

    found = await anyio.to_thread.run_sync(request.app.state.repository.triage_of, resource_id)
    patient = patient_of(found[0]) if found else None
    allowed_patient = getattr(request.state, "patient_only", None)
    if found is None or (allowed_patient is not None and patient != allowed_patient):
        raise HttpProblem(404, "not-found", "No CarePlan with this id.")
    request.state.audit_patient = patient
    _, response, rules_version = found
    return FhirResponse(explain_response(response, rules_version))


router.add_api_route(
    "/CarePlan/{resource_id}/$explain", explain_careplan, methods=["GET"], response_class=FhirResponse,
    summary="Explain a CarePlan line by line",
    description="For the triage behind a CarePlan: the rules version, the disposition, and each finding "
    "with its tier, the rule row's condition and source, and the answers that fired it (plus the STarT "
    "Back scores and each medicine decision under rules 2), as a FHIR Parameters resource. The stored "
    "response is re-run through the rules version stored with it. Same scopes and patient checks as "
    "reading the CarePlan.",
    responses=fhir_ok("The explanation", "Parameters"), tags=["Results"],
)

for _type in ("CarePlan", "Encounter", "QuestionnaireResponse"):
    router.add_api_route(
        f"/{_type}/{{resource_id}}", _read_route(_type), methods=["GET"], response_class=FhirResponse,
        summary=f"Read a {_type}", description=f"Read one {_type}: {PLAIN_WORDS[_type]}. "
        "Answers with ETag and meta.versionId; If-None-Match gives 304.",
        responses=fhir_ok(f"The {_type}", _type), tags=["Results"],
    )
    router.add_api_route(
        f"/{_type}", _search_route(_type), methods=["GET"], response_class=FhirResponse,
        summary=f"Search {_type} resources",
        description=f"Search {PLAIN_WORDS[_type]}, newest first. Follow the Bundle's `next` link for "
        "more pages.",
        responses=fhir_ok("A searchset Bundle", "Bundle"), tags=["Results"],
        openapi_extra=query_parameters(
            *[(name, PARAMETER_DOCS[name], _PARAM_SCHEMA[kind]) for name, kind in SEARCH_PARAMETERS[_type].items()],
            ("_count", "Results per page", {"type": "integer", "minimum": 0}),
        ),
    )
