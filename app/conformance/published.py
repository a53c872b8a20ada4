"""Published resources: definitions that are the same for every caller (Questionnaires,
CodeSystems, OperationDefinitions, the rules' knowledge artifacts, the CDS ValueSet).

Each kind is one row of data (what it is called, where its instances come from, what a 404
says) and gets the same two routes from `publish`: a read by id with a weak ETag of its version,
and a search by the parameters the search table (app/fhir/search.py) declares for the type. A
new published type is a new row, not two more handlers.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from app.fhir.http import FhirResponse, fhir_base
from app.fhir.openapi import SEARCH_RULES, fhir_ok, search_parameters
from app.fhir.outcome import HttpProblem
from app.fhir.search import is_lenient, read_search, searchset_in_memory
from app.settings import AppSettings, Settings

Resources = Sequence[dict[str, Any]]


def _see_search(resource_type: str) -> Callable[[Resources], str]:
    return lambda _served: f"No such {resource_type}; see GET /fhir/{resource_type}."


@dataclass(frozen=True)
class PublishedKind:
    resource_type: str
    read_summary: str
    read_description: str
    search_summary: str
    instances: Callable[[Settings], Resources]  # every instance served, in search order
    not_found: Callable[[Resources], str] | None = None  # the 404's words, from what is served

    def missing(self, served: Resources) -> str:
        return (self.not_found or _see_search(self.resource_type))(served)


def search_published(request: Request, settings: Settings, resource_type: str, resources: Resources) -> Response:
    """A searchset of published resources: the search table's parameters, applied in memory."""
    search = read_search(
        resource_type, request.query_params.multi_items(), lenient=is_lenient(request), max_count=settings.max_page_size
    )
    base = fhir_base(request, settings)
    return FhirResponse(searchset_in_memory(search, resource_type, list(resources), base))


def publish(router: APIRouter, kind: PublishedKind) -> None:
    """GET /{type}/{id} and GET /{type} for one published kind, on `router` (prefix /fhir)."""
    resource_type = kind.resource_type

    @router.get(
        f"/{resource_type}/{{resource_id}}",
        summary=kind.read_summary,
        description=kind.read_description,
        responses=fhir_ok(f"The {resource_type}", resource_type),
        response_class=FhirResponse,
        name=f"read_{resource_type}",
    )
    async def read(resource_id: str, settings: AppSettings) -> Response:
        served = kind.instances(settings)
        found = next((resource for resource in served if resource["id"] == resource_id), None)
        if found is None:
            raise HttpProblem(404, "not-found", kind.missing(served))
        return FhirResponse(found, headers={"ETag": f'W/"{found["version"]}"'})

    @router.get(
        f"/{resource_type}",
        summary=kind.search_summary,
        description=SEARCH_RULES,
        responses=fhir_ok("A searchset Bundle", "Bundle"),
        response_class=FhirResponse,
        openapi_extra=search_parameters(resource_type),
        name=f"search_{resource_type}",
    )
    async def search(request: Request, settings: AppSettings) -> Response:
        return search_published(request, settings, resource_type, kind.instances(settings))
