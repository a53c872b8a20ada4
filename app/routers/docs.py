"""OpenAPI descriptions: FHIR media types, schemas and ready examples for Swagger UI."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

from app.fhir.search import COUNT_DOCUMENTATION, SEARCH_PARAMETERS
from app.kit.fhir_http import FHIR_JSON

DISPOSITION_EXAMPLES = ("emergency", "urgent", "doctor", "self-care")
EXAMPLE_SUMMARIES = {
    "emergency": "Emergency: loss of bladder control and leg weakness",
    "urgent": "Urgent: new back pain with a fever",
    "doctor": "Doctor first: pain for more than 12 weeks after an injury",
    "self-care": "Self-care: flexion-sensitive pain, no red flags",
}


@cache
def example_responses() -> dict[str, dict[str, Any]]:
    folder = resources.files("app.fhir").joinpath("data/examples")
    return {name: json.loads(folder.joinpath(f"{name}.json").read_text("utf-8")) for name in DISPOSITION_EXAMPLES}


def resource_schema(*resource_types: str) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["resourceType"],
        "properties": {"resourceType": {"type": "string", "enum": list(resource_types)}},
        "additionalProperties": True,
    }


OUTCOME = resource_schema("OperationOutcome")


def outcome_response(description: str) -> dict[str, Any]:
    return {"description": description, "content": {FHIR_JSON: {"schema": OUTCOME}}}


COMMON_ERRORS = {
    400: outcome_response("Malformed request: an OperationOutcome says what is wrong"),
    404: outcome_response("No such resource"),
    406: outcome_response("Only application/fhir+json is served"),
    503: outcome_response("The database is unavailable; retry later"),
}


def fhir_ok(description: str, *resource_types: str, status: int = 200,
            headers: dict[str, Any] | None = None) -> dict[int | str, dict[str, Any]]:
    ok: dict[str, Any] = {"description": description,
                          "content": {FHIR_JSON: {"schema": resource_schema(*resource_types)}}}
    if headers:
        ok["headers"] = headers
    return {status: ok, **COMMON_ERRORS}


def request_body(description: str, examples: dict[str, Any]) -> dict[str, Any]:
    schema = resource_schema("QuestionnaireResponse", "Parameters")
    return {
        "requestBody": {
            "required": True,
            "description": description,
            "content": {
                FHIR_JSON: {"schema": schema, "examples": examples},
                "application/json": {"schema": schema},
            },
        }
    }


SEARCH_RULES = ("A parameter not listed here (or any modifier or chain) is a 400, unless you send "
                "`Prefer: handling=lenient`: then it is ignored and left out of the `self` link.")


def search_parameters(resource_type: str) -> dict[str, Any]:
    """The OpenAPI query parameters of a search: the same table the search code applies."""
    listed = [(name, param.documentation, {"type": "string"})
              for name, param in SEARCH_PARAMETERS[resource_type].items()]
    listed.append(("_count", COUNT_DOCUMENTATION, {"type": "integer", "minimum": 0}))
    return query_parameters(*listed)


def query_parameters(*parameters: tuple[str, str, dict[str, Any]]) -> dict[str, Any]:
    return {
        "parameters": [
            {"name": name, "in": "query", "required": False, "description": text, "schema": schema}
            for name, text, schema in parameters
        ]
    }
