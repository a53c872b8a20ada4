"""OpenAPI descriptions: FHIR media types, schemas and ready examples for Swagger UI."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

from app.fhir.http import FHIR_JSON
from app.fhir.search import COUNT_DOCUMENTATION, SEARCH_PARAMETERS

# Swagger examples: name → (file under data/examples, the disposition it gets, summary).
# One per disposition of rules 2 (Questionnaire 2.0.0), a STarT Back high-risk patient, and
# the rules-1 examples (Questionnaire 1.0.0), which stay reachable.
EXAMPLES: dict[str, tuple[str, str, str]] = {
    "emergency": ("emergency.json", "emergency", "Emergency: new difficulty passing urine"),
    "urgent": ("urgent.json", "urgent", "Urgent: new back pain with a fever"),
    "doctor-soon": ("doctor-soon.json", "doctor-soon", "Doctor within days: unexplained weight loss at 62"),
    "doctor": ("doctor.json", "doctor", "Doctor first: pain for more than 12 weeks after an injury"),
    "self-care": ("self-care.json", "self-care", "Self-care: flexion-sensitive pain, no red flags"),
    "startback-high-risk": (
        "startback-high-risk.json",
        "self-care",
        "STarT Back high risk: psychologically informed physical therapy",
    ),
    "v1-emergency": ("v1/emergency.json", "emergency", "Questionnaire 1.0.0 (rules 1): emergency"),
    "v1-urgent": ("v1/urgent.json", "urgent", "Questionnaire 1.0.0 (rules 1): urgent"),
    "v1-doctor": ("v1/doctor.json", "doctor", "Questionnaire 1.0.0 (rules 1): doctor first"),
    "v1-self-care": ("v1/self-care.json", "self-care", "Questionnaire 1.0.0 (rules 1): self-care"),
}
DISPOSITION_EXAMPLES = ("emergency", "urgent", "doctor-soon", "doctor", "self-care")
EXAMPLE_SUMMARIES = {name: summary for name, (_, _, summary) in EXAMPLES.items()}
EXAMPLE_DISPOSITIONS = {name: disposition for name, (_, disposition, _) in EXAMPLES.items()}


@cache
def all_examples() -> dict[str, dict[str, Any]]:
    """Every Swagger example by name."""
    folder = resources.files("app.fhir").joinpath("data/examples")
    return {name: json.loads(folder.joinpath(path).read_text("utf-8")) for name, (path, _, _) in EXAMPLES.items()}


def example_responses() -> dict[str, dict[str, Any]]:
    """One example per disposition of the current rules, keyed by the disposition."""
    return {name: all_examples()[name] for name in DISPOSITION_EXAMPLES}


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


# FastAPI's `responses=`: status code (or "default") → OpenAPI response object.
Responses = dict[int | str, dict[str, Any]]

COMMON_ERRORS: Responses = {
    400: outcome_response("Malformed request: an OperationOutcome says what is wrong"),
    404: outcome_response("No such resource"),
    406: outcome_response("Only application/fhir+json is served"),
    503: outcome_response("The database is unavailable; retry later"),
}


def fhir_ok(
    description: str, *resource_types: str, status: int = 200, headers: dict[str, Any] | None = None
) -> Responses:
    ok: dict[str, Any] = {
        "description": description,
        "content": {FHIR_JSON: {"schema": resource_schema(*resource_types)}},
    }
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


SEARCH_RULES = (
    "A parameter not listed here (or any modifier or chain) is a 400, unless you send "
    "`Prefer: handling=lenient`: then it is ignored and left out of the `self` link."
)


def search_parameters(resource_type: str) -> dict[str, Any]:
    """The OpenAPI query parameters of a search: the same table the search code applies."""
    listed: list[tuple[str, str, dict[str, Any]]] = [
        (name, param.documentation, {"type": "string"}) for name, param in SEARCH_PARAMETERS[resource_type].items()
    ]
    listed.append(("_count", COUNT_DOCUMENTATION, {"type": "integer", "minimum": 0}))
    return query_parameters(*listed)


def query_parameters(*parameters: tuple[str, str, dict[str, Any]]) -> dict[str, Any]:
    return {
        "parameters": [
            {"name": name, "in": "query", "required": False, "description": text, "schema": schema}
            for name, text, schema in parameters
        ]
    }
