"""GET /.well-known/smart-configuration, at the server root and under /fhir (SMART App Launch 2)."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import JSONResponse

from app.fhir.openapi import outcome_response
from app.fhir.outcome import HttpProblem
from app.security.smart import published, smart_configuration
from app.settings import AppSettings

router = APIRouter(tags=["Conformance"])


async def _configuration(settings: AppSettings) -> JSONResponse:
    if not published(settings):
        raise HttpProblem(
            404,
            "not-found",
            "SMART discovery is served in jwt mode with LBP_SMART_AUTHORIZE_URL and LBP_SMART_TOKEN_URL set.",
        )
    return JSONResponse(smart_configuration(settings))


for _name, _path in (
    ("smart_configuration", "/.well-known/smart-configuration"),
    ("smart_configuration_fhir", "/fhir/.well-known/smart-configuration"),
):
    router.add_api_route(
        _path,
        _configuration,
        methods=["GET"],
        name=_name,
        summary="SMART App Launch configuration (the authorization server's endpoints)",
        responses={
            200: {
                "description": "The SMART configuration",
                "content": {"application/json": {"schema": {"type": "object"}}},
            },
            404: outcome_response("Not in jwt mode, or no authorization server set"),
        },
    )
