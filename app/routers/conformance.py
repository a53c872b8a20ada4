"""What the server is and what it publishes: CapabilityStatement, Questionnaire, CodeSystems."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from app.fhir.bundle import searchset
from app.fhir.capability import capability_statement
from app.fhir.codesystem import codesystems
from app.fhir.questionnaire import by_id, questionnaires
from app.kit.fhir_http import FhirResponse, HttpProblem, fhir_base

from .docs import fhir_ok, query_parameters

router = APIRouter(prefix="/fhir", tags=["Conformance"])


def _base(request: Request) -> str:
    return fhir_base(request, request.app.state.settings.public_base_url)


@router.get("/metadata", summary="What this server can do (CapabilityStatement)",
            description="The FHIR CapabilityStatement: every resource, interaction, search parameter "
            "and operation this server supports.",
            responses=fhir_ok("The CapabilityStatement", "CapabilityStatement"), response_class=FhirResponse)
async def metadata(request: Request) -> Response:
    settings = request.app.state.settings
    return FhirResponse(capability_statement(_base(request), auth_mode=settings.auth_mode,
                                             cors=bool(settings.cors_origins.strip())))


@router.get("/Questionnaire/{questionnaire_id}", summary="The triage Questionnaire",
            description="The questions EHRs and forms ask. Its linkIds are a stable contract; build "
            "QuestionnaireResponses from it. `lbp-triage` is the current version (2.0.0); version "
            "1.0.0 is still served, as `lbp-triage-1.0.0` (or `GET /fhir/Questionnaire?url=…|1.0.0`), "
            "and responses naming `…|1.0.0` are still triaged by rules 1.",
            responses=fhir_ok("The Questionnaire", "Questionnaire"), response_class=FhirResponse)
async def read_questionnaire(questionnaire_id: str) -> Response:
    q = by_id(questionnaire_id)
    if q is None:
        raise HttpProblem(404, "not-found", "No such Questionnaire; the triage Questionnaire is lbp-triage "
                          "(version 1.0.0: lbp-triage-1.0.0).")
    return FhirResponse(q, headers={"ETag": f'W/"{q["version"]}"'})


def _by_url(request: Request, resource_type: str, resources: list[dict[str, Any]]) -> Response:
    url = request.query_params.get("url")
    wanted_version = request.query_params.get("version")
    if url is not None:
        canonical, _, version = url.partition("|")
        resources = [r for r in resources if r["url"] == canonical and (not version or r["version"] == version)]
    if wanted_version is not None:
        resources = [r for r in resources if r.get("version") == wanted_version]
    base = _base(request)
    query = "&".join(f"{name}={value}" for name, value in (("url", url), ("version", wanted_version))
                     if value is not None)
    self_url = f"{base}/{resource_type}" + (f"?{query}" if query else "")
    return FhirResponse(searchset(resources, len(resources), base, self_url, None))


@router.get("/Questionnaire", summary="Find the Questionnaires by canonical URL and version",
            description="Every served version, the current (2.0.0) first; narrow with `url` "
            "(optionally `|version`) and `version`.",
            responses=fhir_ok("A searchset Bundle", "Bundle"), response_class=FhirResponse,
            openapi_extra=query_parameters(("url", "Canonical URL, optionally |version", {"type": "string"}),
                                           ("version", "Business version, e.g. 1.0.0 or 2.0.0",
                                            {"type": "string"})))
async def search_questionnaire(request: Request) -> Response:
    return _by_url(request, "Questionnaire", questionnaires())


@router.get("/CodeSystem/{codesystem_id}", summary="A CodeSystem of the triage",
            description="`lbp-triage` holds the dispositions, findings, activities and preferences the "
            "CarePlans use; `lbp-triage-answers` the answer codes of the Questionnaire.",
            responses=fhir_ok("The CodeSystem", "CodeSystem"), response_class=FhirResponse)
async def read_codesystem(codesystem_id: str) -> Response:
    cs = codesystems().get(codesystem_id)
    if cs is None:
        raise HttpProblem(404, "not-found", "No such CodeSystem; see GET /fhir/CodeSystem.")
    return FhirResponse(cs, headers={"ETag": f'W/"{cs["version"]}"'})


@router.get("/CodeSystem", summary="List or find the CodeSystems",
            responses=fhir_ok("A searchset Bundle", "Bundle"), response_class=FhirResponse,
            openapi_extra=query_parameters(("url", "Canonical URL, optionally |version", {"type": "string"}),
                                           ("version", "Business version", {"type": "string"})))
async def search_codesystems(request: Request) -> Response:
    return _by_url(request, "CodeSystem", list(codesystems().values()))
