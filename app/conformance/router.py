"""What the server is and what it publishes: CapabilityStatement, Questionnaire, CodeSystems,
OperationDefinitions."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from app.conformance.capability import capability_statement
from app.conformance.operations import operation_definitions
from app.fhir.bundle import searchset
from app.fhir.codesystem import codesystems
from app.fhir.http import FhirResponse, fhir_base
from app.fhir.openapi import SEARCH_RULES, fhir_ok, search_parameters
from app.fhir.outcome import HttpProblem
from app.fhir.questionnaire import by_id, questionnaires
from app.fhir.search import filter_resources, is_lenient, page_of, read_search, search_url
from app.security.smart import add_oauth_uris
from app.settings import AppSettings, Settings

router = APIRouter(prefix="/fhir", tags=["Conformance"])


def _base(request: Request, settings: Settings) -> str:
    return fhir_base(request, settings.public_base_url)


@router.get(
    "/metadata",
    summary="What this server can do (CapabilityStatement)",
    description="The FHIR CapabilityStatement: every resource, interaction, search parameter "
    "and operation this server supports.",
    responses=fhir_ok("The CapabilityStatement", "CapabilityStatement"),
    response_class=FhirResponse,
)
async def metadata(request: Request, settings: AppSettings) -> Response:
    # The OpenAPI document lists every route (FastAPI caches it): the CapabilityStatement is read from it.
    return FhirResponse(
        add_oauth_uris(
            capability_statement(
                request.app.openapi()["paths"],
                _base(request, settings),
                auth_mode=settings.auth_mode,
                cors=bool(settings.cors_origins.strip()),
            ),
            settings,
        )
    )


@router.get(
    "/Questionnaire/{questionnaire_id}",
    summary="The triage Questionnaire",
    description="The questions EHRs and forms ask. Its linkIds are a stable contract; build "
    "QuestionnaireResponses from it. `lbp-triage` is the current version (2.0.0); version "
    "1.0.0 is still served, as `lbp-triage-1.0.0` (or `GET /fhir/Questionnaire?url=…|1.0.0`), "
    "and responses naming `…|1.0.0` are still triaged by rules 1.",
    responses=fhir_ok("The Questionnaire", "Questionnaire"),
    response_class=FhirResponse,
)
async def read_questionnaire(questionnaire_id: str) -> Response:
    q = by_id(questionnaire_id)
    if q is None:
        raise HttpProblem(
            404,
            "not-found",
            "No such Questionnaire; the triage Questionnaire is lbp-triage (version 1.0.0: lbp-triage-1.0.0).",
        )
    return FhirResponse(q, headers={"ETag": f'W/"{q["version"]}"'})


def search_published(
    request: Request, settings: Settings, resource_type: str, resources: list[dict[str, Any]]
) -> Response:
    search = read_search(
        resource_type,
        request.query_params.multi_items(),
        lenient=is_lenient(request),
        max_count=settings.max_page_size,
    )
    found = filter_resources(resources, search.criteria)
    page, following = page_of(found, search)
    base = _base(request, settings)
    next_url = search_url(base, resource_type, search.applied, following) if following else None
    return FhirResponse(
        searchset(page, len(found), base, search_url(base, resource_type, search.applied, search.cursor), next_url)
    )


@router.get(
    "/Questionnaire",
    summary="Find the Questionnaires by canonical URL and version",
    description=SEARCH_RULES,
    responses=fhir_ok("A searchset Bundle", "Bundle"),
    response_class=FhirResponse,
    openapi_extra=search_parameters("Questionnaire"),
)
async def search_questionnaire(request: Request, settings: AppSettings) -> Response:
    return search_published(request, settings, "Questionnaire", questionnaires())


@router.get(
    "/CodeSystem/{codesystem_id}",
    summary="A CodeSystem of the triage",
    description="`lbp-triage` holds the dispositions, findings, activities and preferences the "
    "CarePlans use; `lbp-triage-answers` the answer codes of the Questionnaire.",
    responses=fhir_ok("The CodeSystem", "CodeSystem"),
    response_class=FhirResponse,
)
async def read_codesystem(codesystem_id: str) -> Response:
    cs = codesystems().get(codesystem_id)
    if cs is None:
        raise HttpProblem(404, "not-found", "No such CodeSystem; see GET /fhir/CodeSystem.")
    return FhirResponse(cs, headers={"ETag": f'W/"{cs["version"]}"'})


@router.get(
    "/CodeSystem",
    summary="List or find the CodeSystems",
    description=SEARCH_RULES,
    responses=fhir_ok("A searchset Bundle", "Bundle"),
    response_class=FhirResponse,
    openapi_extra=search_parameters("CodeSystem"),
)
async def search_codesystems(request: Request, settings: AppSettings) -> Response:
    return search_published(request, settings, "CodeSystem", list(codesystems().values()))


@router.get(
    "/OperationDefinition/{definition_id}",
    summary="An operation this server offers",
    description="The OperationDefinition of each operation the CapabilityStatement names "
    "($triage, and the Subscription operations).",
    responses=fhir_ok("The OperationDefinition", "OperationDefinition"),
    response_class=FhirResponse,
)
async def read_operation_definition(definition_id: str) -> Response:
    definition = operation_definitions().get(definition_id)
    if definition is None:
        raise HttpProblem(404, "not-found", "No such OperationDefinition; see GET /fhir/OperationDefinition.")
    return FhirResponse(definition, headers={"ETag": f'W/"{definition["version"]}"'})


@router.get(
    "/OperationDefinition",
    summary="List or find the OperationDefinitions",
    description=SEARCH_RULES,
    responses=fhir_ok("A searchset Bundle", "Bundle"),
    response_class=FhirResponse,
    openapi_extra=search_parameters("OperationDefinition"),
)
async def search_operation_definitions(request: Request, settings: AppSettings) -> Response:
    return search_published(request, settings, "OperationDefinition", list(operation_definitions().values()))
