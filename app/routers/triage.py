"""POST /fhir/QuestionnaireResponse/$triage: the one write of the service."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

import anyio
from fastapi import APIRouter, Request
from starlette.responses import Response

from app.encounters import Prepared, Submitted, prepare, store
from app.fhir.outcome import single_outcome
from app.kit.metrics import TRIAGES
from app.security.audit import audit_row
from app.security.principal import patient_of
from app.kit.fhir_http import FhirResponse, HttpProblem, prefer, read_json_body, version_headers

from .docs import EXAMPLE_SUMMARIES, example_responses, fhir_ok, outcome_response, request_body

router = APIRouter(prefix="/fhir", tags=["Triage"])

DESCRIPTION = """
Send the patient's answers as a FHIR **QuestionnaireResponse** (built from the
`lbp-triage` Questionnaire), or a **Parameters** resource holding it as the parameter
`response`. The service checks every answer, looks for red flags, stores the encounter,
and answers **201 Created** with the **CarePlan**: where the patient should go
(`category`: emergency, urgent, doctor or self-care), why (the findings in each activity's
`reasonCode`), and what to do (the activities).

**Try it out:** pick an example below (one per disposition) and press *Execute*.

- Sending a response with the same `identifier` again returns the first CarePlan (**200**),
  never a second encounter. `If-None-Exist: identifier=system|value` works the same way.
- `Prefer: return=minimal` answers with no body; `return=OperationOutcome` with a summary.
- A response that breaks the Questionnaire's rules gets **422** with an OperationOutcome
  listing every fault (a missing warning sign is always an error, never a "no").
"""


def _unwrap(data: Any) -> Any:
    """A Parameters resource carries the response as the parameter `response`."""
    if isinstance(data, dict) and data.get("resourceType") == "Parameters":
        found = [p.get("resource") for p in data.get("parameter") or ()
                 if isinstance(p, dict) and p.get("name") == "response"]
        if len(found) != 1 or not isinstance(found[0], dict):
            raise HttpProblem(400, "structure",
                              "A Parameters body must hold exactly one parameter 'response' with a "
                              "QuestionnaireResponse resource.")
        return found[0]
    return data


# One limit on both engines (PostgreSQL's column refuses longer values; SQLite would store them).
MAX_IDENTIFIER_LENGTH = 1024


def _check_identifier(system: str | None, value: str) -> None:
    if len(system or "") > MAX_IDENTIFIER_LENGTH or len(value) > MAX_IDENTIFIER_LENGTH:
        raise HttpProblem(400, "too-long", f"An identifier's system and value may each be at most "
                          f"{MAX_IDENTIFIER_LENGTH} characters.")


def _if_none_exist(header: str | None) -> tuple[str | None, str] | None:
    if header is None:
        return None
    params = parse_qsl(header.removeprefix("?").split("?", 1)[-1], keep_blank_values=True)
    if len(params) != 1 or params[0][0] != "identifier" or not params[0][1] or "\0" in params[0][1]:
        raise HttpProblem(400, "not-supported",
                          "If-None-Exist supports one criterion: identifier=system|value.")
    value = params[0][1]
    if "|" in value:
        system, _, code = value.partition("|")
        _check_identifier(system, code)
        return system, code
    _check_identifier(None, value)
    return None, value



def _audit_of_create(request: Request, prepared: Prepared) -> dict[str, Any] | None:
    principal = getattr(request.state, "principal", None)
    if principal is None:
        return None
    return audit_row(interaction="create", resource_type="QuestionnaireResponse",
                     resource_id=prepared.row["response_id"], patient=prepared.row["patient"],
                     agent=principal.subject, client_address=request.client.host if request.client else None,
                     status=201)


def _patient_system(system: str | None, patient: str) -> str:
    """Where a patient-level token's identifier is kept when another patient's triage holds it."""
    return f"urn:lbp-triage:patient:{patient}:{system or ''}"


def _for_patient(prepared: Prepared, patient: str, repository: Any) -> Prepared:
    """A patient-level token's triage whose identifier another patient's triage holds: kept
    under an identifier system of the patient's own, so that it is triaged (and replayed)
    exactly as an unknown identifier would be, and the other triage is neither shown nor hinted at."""
    system, value = prepared.identifier  # type: ignore[misc]
    earlier = repository.find_by_identifier(system, value)
    if earlier is None or patient_of(earlier) == patient:
        return prepared
    own = _patient_system(system, patient)
    return Prepared({**prepared.row, "identifier_system": own}, (own, value))


def _earlier(condition: tuple[str | None, str], repository: Any, patient: str | None = None) -> Submitted | None:
    matches = repository.count_by_identifier(*condition)
    if patient is not None:
        # A patient-level token sees only its patient's triages: another patient's match is no
        # match at all (answering otherwise would tell that it exists).
        system, value = condition
        if system is not None:
            matches = [*matches, *repository.count_by_identifier(_patient_system(system, patient), value)]
        matches = [m for m in matches if patient_of(m) == patient]
    if len(matches) > 1:
        raise HttpProblem(412, "duplicate", "If-None-Exist matched more than one QuestionnaireResponse.")
    return Submitted(matches[0], created=False) if matches else None


@router.post(
    "/QuestionnaireResponse/$triage",
    summary="Triage a patient's answers into a CarePlan",
    description=DESCRIPTION,
    response_class=FhirResponse,
    status_code=201,
    responses={
        **fhir_ok("The CarePlan made for this response", "CarePlan", status=201, headers={
            "Location": {"description": "/fhir/CarePlan/{id}", "schema": {"type": "string"}},
            "ETag": {"description": 'W/"1"', "schema": {"type": "string"}},
        }),
        200: {"description": "This response was triaged before: the CarePlan made then",
              "content": {"application/fhir+json": {"schema": {"type": "object"}}}},
        412: outcome_response("If-None-Exist matched more than one response"),
        413: outcome_response("The body is too large"),
        415: outcome_response("The body is not application/fhir+json"),
        422: outcome_response("The response breaks the Questionnaire's rules: every fault is listed"),
    },
    openapi_extra=request_body(
        "A QuestionnaireResponse, or a Parameters resource with it as `response`.",
        {name: {"summary": EXAMPLE_SUMMARIES[name], "value": value}
         for name, value in example_responses().items()},
    ),
)
async def triage_response(request: Request) -> Response:
    state = request.app.state
    data = _unwrap(await read_json_body(request, state.settings.max_body_bytes))
    condition = _if_none_exist(request.headers.get("if-none-exist"))
    submitted = None
    allowed_patient = getattr(request.state, "patient_only", None)
    if condition is not None:
        submitted = await anyio.to_thread.run_sync(_earlier, condition, state.repository, allowed_patient)
    if submitted is None:
        # CPU work stays on the event loop (threads would only fight over the GIL);
        # the database write goes to the writer threads.
        prepared: Prepared = prepare(data)
        if prepared.identifier is not None:
            _check_identifier(*prepared.identifier)
        patient = prepared.row["patient"]
        if getattr(request.state, "patient_only", patient) != patient:
            raise HttpProblem(403, "forbidden", "A patient-level token may triage only its own patient.")
        request.state.audit_patient = patient
        if allowed_patient is not None and prepared.identifier is not None:
            prepared = await anyio.to_thread.run_sync(_for_patient, prepared, allowed_patient, state.repository)
        audit = _audit_of_create(request, prepared)
        submitted = await state.writer.run(store, prepared, state.repository, audit)
        # A new triage's audit record was committed with it; otherwise the access layer writes one.
        request.state.audited = submitted.created and audit is not None
    careplan = submitted.careplan
    if not submitted.created and allowed_patient is not None and patient_of(careplan) != allowed_patient:
        # An identifier (or If-None-Exist) naming another patient's triage must not hand a
        # patient-level token that patient's CarePlan.
        raise HttpProblem(403, "forbidden", "A patient-level token may see only its own patient's triages.")
    if submitted.created:
        TRIAGES.labels(careplan["category"][0]["coding"][0]["code"]).inc()
    headers = {"Location": f"/fhir/CarePlan/{careplan['id']}", **version_headers(careplan)}
    status = 201 if submitted.created else 200
    preference = prefer(request, "return", "representation")
    if preference == "minimal":
        return Response(status_code=status, headers=headers)
    if preference == "OperationOutcome":
        disposition = careplan["category"][0]["coding"][0]["code"]
        text = (f"Triaged: disposition {disposition}; CarePlan/{careplan['id']}" if submitted.created
                else f"Already triaged: CarePlan/{careplan['id']}")
        return FhirResponse(single_outcome("informational", text, severity="information"),
                            status_code=status, headers=headers)
    return FhirResponse(careplan, status_code=status, headers=headers)


@router.api_route("/QuestionnaireResponse/$triage", methods=["GET", "PUT", "PATCH", "DELETE"],
                  include_in_schema=False)
async def triage_other_methods() -> Response:
    # Without this, GET would reach the QuestionnaireResponse read route as id "$triage".
    raise HttpProblem(405, "not-supported", "$triage is invoked with POST.", headers={"Allow": "POST"})
