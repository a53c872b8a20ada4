"""The CapabilityStatement: exactly what this server does, no more."""

from __future__ import annotations

from typing import Any

from app import __version__
from app.fhir.canonical import BASE, QUESTIONNAIRE_URL
from app.fhir.search import PARAMETER_DOCS, SEARCH_PARAMETERS

TRIAGE_OPERATION_URL = f"{BASE}/OperationDefinition/QuestionnaireResponse-triage"
_SP_TYPE = {"reference": "reference", "date": "date", "token": "token"}


def _search_params(resource_type: str) -> list[dict[str, Any]]:
    params = [
        {"name": name, "type": _SP_TYPE[kind], "documentation": PARAMETER_DOCS[name]}
        for name, kind in SEARCH_PARAMETERS[resource_type].items()
    ]
    params.append({"name": "_count", "type": "number", "documentation": "Page size (newest first)."})
    return params


def _stored(resource_type: str, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "type": resource_type,
        "interaction": [{"code": "read"}, {"code": "search-type"}],
        "versioning": "versioned",
        "readHistory": False,
        "updateCreate": False,
        "searchParam": _search_params(resource_type),
    }
    if extra:
        resource.update(extra)
    return resource


def capability_statement(base_url: str, software_date: str = "2026-11-25") -> dict[str, Any]:
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": software_date,
        "publisher": "lbp-triage",
        "kind": "instance",
        "software": {"name": "lbp-triage", "version": __version__},
        "implementation": {"description": "Low back pain triage service", "url": base_url},
        "fhirVersion": "4.0.1",
        "format": ["json", "application/fhir+json"],
        "rest": [
            {
                "mode": "server",
                "documentation": "Triage a QuestionnaireResponse with POST QuestionnaireResponse/$triage; "
                "read and search the CarePlans, Encounters and QuestionnaireResponses it stores.",
                "resource": [
                    _stored("CarePlan"),
                    _stored("Encounter"),
                    _stored("QuestionnaireResponse", {
                        "conditionalCreate": True,
                        "operation": [{"name": "triage", "definition": TRIAGE_OPERATION_URL,
                                       "documentation": "Validate, triage and store a QuestionnaireResponse; "
                                       "answers with the CarePlan (201, or 200 when its identifier was "
                                       "triaged before)."}],
                    }),
                    {
                        "type": "Questionnaire",
                        "interaction": [{"code": "read"}, {"code": "search-type"}],
                        "searchParam": [{"name": "url", "type": "uri",
                                         "documentation": f"The canonical URL ({QUESTIONNAIRE_URL})."}],
                    },
                    {
                        "type": "CodeSystem",
                        "interaction": [{"code": "read"}, {"code": "search-type"}],
                        "searchParam": [{"name": "url", "type": "uri", "documentation": "The canonical URL."}],
                    },
                ],
            }
        ],
    }
