"""POST /fhir/QuestionnaireResponse/$triage: the one write of the service."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Request
from starlette.responses import Response

from app.fhir.http import FhirResponse, prefer, read_resource, version_headers
from app.fhir.openapi import EXAMPLE_SUMMARIES, all_examples, fhir_ok, outcome_response, request_body
from app.fhir.outcome import HttpProblem, single_outcome
from app.fhir.search import check_operation_parameters
from app.kit.metrics import count_triage
from app.security.audit import audit_row
from app.security.context import Context, RequestContext
from app.security.principal import Principal
from app.triage import fastpath
from app.triage.deps import TriageServices, Triaging
from app.triage.service import AuditFor, Prepared, prepare, triage_and_store

router = APIRouter(prefix="/fhir", tags=["Triage"])

DESCRIPTION = """
Send the patient's answers as a FHIR **QuestionnaireResponse** (built from the
`lbp-triage` Questionnaire), or a **Parameters** resource holding it as the parameter
`response`. The service checks every answer, looks for red flags, stores the encounter,
and answers **201 Created** with the **CarePlan**: where the patient should go
(`category`: emergency, urgent, doctor-soon, doctor or self-care), why (the findings in each activity's
`reasonCode`), and what to do (the activities).

**Try it out:** pick an example below (one per disposition of rules 2, a STarT Back high-risk
patient, and the Questionnaire 1.0.0 examples triaged by rules 1), edit it if you like, and press
*Execute*. The examples carry no `identifier`, so every Execute is triaged anew.

A response is triaged by the rules of the Questionnaire version it names
(`…/Questionnaire/lbp-triage|1.0.0` → rules 1), or by the current rules 2 without a version.
A 422 whose issue is `business-rule` about a question answered while it was not asked may
hold a "yes" to a warning sign: route that response to a clinician.

**Idempotency and corrections, by the response's `identifier`.** The body is always
validated first (400 for invalid FHIR, 422 for broken Questionnaire rules), then:

- the **same response** again (same identifier, same content apart from `id` and `meta`,
  same patient), e.g. a retry after a timeout: **200** with the current CarePlan, nothing
  new stored. Retrying is always safe;
- the same identifier with **`status: amended`** and changed answers: triaged again,
  **201** with a new CarePlan whose `replaces` names the earlier one, which becomes
  `revoked`; the QuestionnaireResponse and Encounter get a new version (see `_history`);
- the same identifier with other answers **not** marked `amended`: **409** (send it as
  `amended` to correct the answers);
- the same identifier for **another patient**: **409**, naming nothing of that response.

`If-None-Exist: identifier=system|value` answers **200** with the matching response's CarePlan
only when the body is that same response of the same patient; otherwise **409**.

A response without an `identifier` is a new triage every time.

- **Read it as a page:** the `Location` header names the CarePlan; open
  [`/fhir/CarePlan/{id}?_format=html`](/fhir/CarePlan/{id}?_format=html) (with that id) in a
  browser for the disposition, the findings with their answers, and the plan.
- `Prefer: return=minimal` answers with no body; `return=OperationOutcome` with a summary.
- A response that breaks the Questionnaire's rules gets **422** with an OperationOutcome
  listing every fault (a missing warning sign is always an error, never a "no"): a 422 on
  a warning-sign item must reach a clinician, as no triage was made.
"""


def _unwrap(data: Any) -> Any:
    """A Parameters resource carries the response as the parameter `response`."""
    if isinstance(data, dict) and data.get("resourceType") == "Parameters":
        found = [
            p.get("resource")
            for p in data.get("parameter") or ()
            if isinstance(p, dict) and p.get("name") == "response"
        ]
        if len(found) != 1 or not isinstance(found[0], dict):
            raise HttpProblem(
                400,
                "structure",
                "A Parameters body must hold exactly one parameter 'response' with a QuestionnaireResponse resource.",
            )
        return found[0]
    return data


# One limit on both engines (PostgreSQL's column refuses longer values; SQLite would store them).
MAX_IDENTIFIER_LENGTH = 1024


def _check_identifier(system: str | None, value: str) -> None:
    if len(system or "") > MAX_IDENTIFIER_LENGTH or len(value) > MAX_IDENTIFIER_LENGTH:
        raise HttpProblem(
            400, "too-long", f"An identifier's system and value may each be at most {MAX_IDENTIFIER_LENGTH} characters."
        )


def if_none_exist(header: str | None) -> tuple[str | None, str] | None:
    """The If-None-Exist condition of a create ($triage, $apply with persist): identifier=system|value."""
    if header is None:
        return None
    params = parse_qsl(header.removeprefix("?").split("?", 1)[-1], keep_blank_values=True)
    if len(params) != 1 or params[0][0] != "identifier" or not params[0][1] or "\0" in params[0][1]:
        raise HttpProblem(400, "not-supported", "If-None-Exist supports one criterion: identifier=system|value.")
    value = params[0][1]
    if "|" in value:
        system, _, code = value.partition("|")
        _check_identifier(system, code)
        return system, code
    _check_identifier(None, value)
    return None, value


def _audit_for(request: Request, principal: Principal | None, patient: str | None) -> AuditFor | None:
    """The audit row of a stored triage (a create, or an amendment's update), written in its transaction."""
    if principal is None:
        return None
    client_address = request.client.host if request.client else None

    def row(interaction: str, response_id: str) -> dict[str, Any]:
        return audit_row(
            interaction=interaction,
            resource_type="QuestionnaireResponse",
            resource_id=response_id,
            patient=patient,
            agent=principal.subject,
            client_address=client_address,
            status=201,
        )

    return row


@router.post(
    "/QuestionnaireResponse/$triage",
    summary="Triage a patient's answers into a CarePlan",
    description=DESCRIPTION,
    response_class=FhirResponse,
    status_code=201,
    responses={
        **fhir_ok(
            "The CarePlan made for this response (for an amended response: the new CarePlan, which "
            "`replaces` the earlier one)",
            "CarePlan",
            status=201,
            headers={
                "Location": {"description": "/fhir/CarePlan/{id}", "schema": {"type": "string"}},
                "ETag": {"description": 'W/"1"', "schema": {"type": "string"}},
            },
        ),
        200: {
            "description": "This same response was triaged before: its current CarePlan",
            "content": {"application/fhir+json": {"schema": {"type": "object"}}},
        },
        400: outcome_response(
            "Not valid FHIR R4 JSON (the R4 JSON Schema's rules, duplicate keys, a "
            "modifierExtension, an unsafe narrative): every fault listed, nothing stored"
        ),
        409: outcome_response(
            "The identifier (or If-None-Exist) names a different response: other answers "
            "not sent as `amended`, or another patient"
        ),
        412: outcome_response("If-None-Exist matched more than one response"),
        413: outcome_response("The body is too large"),
        415: outcome_response("The body is not application/fhir+json"),
        422: outcome_response("The response breaks the Questionnaire's rules: every fault is listed"),
    },
    openapi_extra=request_body(
        "A QuestionnaireResponse, or a Parameters resource with it as `response`.",
        # Without an identifier: a fixed one would make every Execute after the first a replay.
        {
            name: {
                "summary": EXAMPLE_SUMMARIES[name],
                "value": {key: part for key, part in value.items() if key != "identifier"},
            }
            for name, value in all_examples().items()
        },
    ),
)
async def triage_response(request: Request, context: Context, triage: Triaging) -> Response:
    if request.scope["query_string"]:  # $triage takes none: any is refused (400)
        check_operation_parameters("triage", request.query_params.multi_items(), {})
    # The fast path's one pass over a common body stands in for the structure walk (and is not run again)
    coverage = fastpath.Coverage()
    data = _unwrap(
        await read_resource(request, triage.settings, "QuestionnaireResponse", "Parameters", vouched=coverage)
    )
    condition = if_none_exist(request.headers.get("if-none-exist"))
    # Validate first, always: no replay and no If-None-Exist match answers a body that is not a
    # valid response. CPU work stays on the event loop (threads would only fight over the GIL);
    # the database write goes to the writer thread.
    return await store_and_answer(request, context, triage, prepare(data, coverage.done_for(data)), condition)


async def store_and_answer(
    request: Request,
    context: RequestContext,
    triage: TriageServices,
    prepared: Prepared,
    condition: tuple[str | None, str] | None = None,
) -> Response:
    """Store a validated, triaged response (or replay or amend its identifier's triage) and answer
    as $triage does; PlanDefinition/$apply with persist=true comes here too."""
    if prepared.identifier is not None:
        _check_identifier(*prepared.identifier)
    patient = prepared.row["patient"]
    allowed_patient = context.patient_only
    if allowed_patient is not None and allowed_patient != patient:
        raise HttpProblem(403, "forbidden", "A patient-level token may triage only its own patient.")
    context.audit_patient = patient
    audit_for = _audit_for(request, context.principal, patient)
    submitted = await triage_and_store(  # or Conflict (409)
        prepared,
        condition=condition,
        patient_only=allowed_patient,
        repository=triage.repository,
        writer=triage.writer,
        audit_for=audit_for,
    )
    # A stored triage's audit record was committed with it; otherwise the access layer writes one.
    context.audited = submitted.created and audit_for is not None
    careplan = submitted.careplan
    if submitted.created:
        count_triage(careplan["category"][0]["coding"][0]["code"])
    headers = {"Location": f"/fhir/CarePlan/{careplan['id']}", **version_headers(careplan)}
    status = 201 if submitted.created else 200
    preference = prefer(request, "return", "representation")
    if preference == "minimal":
        return Response(status_code=status, headers=headers)
    if preference == "OperationOutcome":
        disposition = careplan["category"][0]["coding"][0]["code"]
        if not submitted.created:
            text = f"Already triaged: CarePlan/{careplan['id']}"
        elif submitted.replaced:
            text = (
                f"Amended response triaged again: disposition {disposition}; CarePlan/{careplan['id']} "
                f"replaces CarePlan/{submitted.replaced}, now revoked"
            )
        else:
            text = f"Triaged: disposition {disposition}; CarePlan/{careplan['id']}"
        return FhirResponse(
            single_outcome("informational", text, severity="information"), status_code=status, headers=headers
        )
    return FhirResponse(careplan, status_code=status, headers=headers)


@router.api_route("/QuestionnaireResponse/$triage", methods=["GET", "PUT", "PATCH", "DELETE"], include_in_schema=False)
async def triage_other_methods() -> Response:
    # Without this, GET would reach the QuestionnaireResponse read route as id "$triage".
    raise HttpProblem(405, "not-supported", "$triage is invoked with POST.", headers={"Allow": "POST"})


@router.post("/QuestionnaireResponse/", include_in_schema=False)
@router.post("/QuestionnaireResponse", include_in_schema=False)
async def triage_without_operation() -> Response:
    # Mostly `curl -X POST "…/QuestionnaireResponse/$triage"`: inside double quotes the shell
    # expands $triage to nothing. Say so instead of a bare redirect and 405.
    raise HttpProblem(
        405,
        "not-supported",
        "This server does not create QuestionnaireResponses directly: POST them to "
        "/fhir/QuestionnaireResponse/$triage. From a shell, put that URL in single quotes "
        "('…/QuestionnaireResponse/$triage') or write \\$triage: inside double quotes the shell "
        "replaces $triage with nothing.",
        headers={"Allow": "GET"},
    )
