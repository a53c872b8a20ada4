"""What the server is and what it publishes: CapabilityStatement, Questionnaire, CodeSystems,
OperationDefinitions."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from app.conformance.capability import capability_statement
from app.conformance.operations import operation_definitions
from app.conformance.published import PublishedKind, publish
from app.fhir.codesystem import codesystems
from app.fhir.http import FhirResponse, fhir_base
from app.fhir.openapi import fhir_ok
from app.fhir.questionnaire import questionnaires
from app.security.smart import add_oauth_uris
from app.settings import AppSettings

router = APIRouter(prefix="/fhir", tags=["Conformance"])


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
                fhir_base(request, settings),
                auth_mode=settings.auth_mode,
                cors=bool(settings.cors_origins.strip()),
            ),
            settings,
        )
    )


QUESTIONNAIRE = PublishedKind(
    "Questionnaire",
    read_summary="The triage Questionnaire",
    read_description="The questions EHRs and forms ask. Its linkIds are a stable contract; build "
    "QuestionnaireResponses from it. `lbp-triage` is the current version (2.0.0); version "
    "1.0.0 is still served, as `lbp-triage-1.0.0` (or `GET /fhir/Questionnaire?url=…|1.0.0`), "
    "and responses naming `…|1.0.0` are still triaged by rules 1.",
    search_summary="Find the Questionnaires by canonical URL and version",
    instances=lambda _settings: questionnaires(),
    not_found=lambda _served: (
        "No such Questionnaire; the triage Questionnaire is lbp-triage (version 1.0.0: lbp-triage-1.0.0)."
    ),
)
CODESYSTEM = PublishedKind(
    "CodeSystem",
    read_summary="A CodeSystem of the triage",
    read_description="`lbp-triage` holds the dispositions, findings, activities and preferences the "
    "CarePlans use; `lbp-triage-answers` the answer codes of the Questionnaire.",
    search_summary="List or find the CodeSystems",
    instances=lambda _settings: list(codesystems().values()),
)
OPERATION_DEFINITION = PublishedKind(
    "OperationDefinition",
    read_summary="An operation this server offers",
    read_description="The OperationDefinition of each operation the CapabilityStatement names "
    "($triage, and the Subscription operations).",
    search_summary="List or find the OperationDefinitions",
    instances=lambda _settings: list(operation_definitions().values()),
)

for _kind in (QUESTIONNAIRE, CODESYSTEM, OPERATION_DEFINITION):
    publish(router, _kind)
