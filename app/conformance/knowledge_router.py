"""The rules as FHIR knowledge artifacts: PlanDefinition, ActivityDefinition and Library (read and
search, public like the Questionnaire), and PlanDefinition/$apply."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from app.conformance import knowledge
from app.conformance.published import PublishedKind, publish
from app.fhir.canonical import PLANDEFINITION_URL
from app.fhir.http import FhirResponse, read_resource
from app.fhir.openapi import (
    EXAMPLE_SUMMARIES,
    example_responses,
    fhir_ok,
    outcome_response,
    request_body,
)
from app.fhir.outcome import Fault, HttpProblem, Rejected
from app.fhir.search import check_operation_parameters
from app.security.context import Context, RequestContext
from app.settings import Settings
from app.triage.deps import TriageServices, Triaging
from app.triage.router import if_none_exist, store_and_answer
from app.triage.scoring import careplan_for
from app.triage.service import prepare

router = APIRouter(prefix="/fhir", tags=["Knowledge artifacts"])


def _served_ids(resource_type: str) -> Callable[[Sequence[dict[str, Any]]], str]:
    def words(served: Sequence[dict[str, Any]]) -> str:
        # the canonical's last segment (lbp-triage-rules) is no id: each version has its own
        ids = [r["id"] for r in served] if resource_type != "ActivityDefinition" else []
        listed = f" Served: {', '.join(ids)}." if ids else ""
        return (
            f"No such {resource_type}; search GET /fhir/{resource_type} (by url and version) for those served.{listed}"
        )

    return words


def _artifact(resource_type: str, instances: Callable[[], Sequence[dict[str, Any]]], description: str) -> PublishedKind:
    return PublishedKind(
        resource_type,
        read_summary=f"A {resource_type} of the triage rules",
        read_description=description,
        search_summary=f"Find the {resource_type}s by canonical URL and version",
        instances=lambda _settings: list(instances()),
        not_found=_served_ids(resource_type),
    )


KNOWLEDGE_ARTIFACTS = (
    _artifact(
        "PlanDefinition",
        knowledge.plan_definitions,
        "The triage rules of one version as a PlanDefinition: the canonical every CarePlan names in "
        "`instantiatesCanonical` (url|version). Ids: `lbp-triage-rules-2.0.0` (current) and "
        "`lbp-triage-rules-1.0.0`.",
    ),
    _artifact(
        "ActivityDefinition",
        knowledge.all_activity_definitions,
        "One activity a plan may hold, per rules version: its code, what the patient reads, "
        "its kind and priority. Ids: `{code}-{version}`, e.g. `safety-net-2.0.0`.",
    ),
    _artifact(
        "Library",
        knowledge.libraries,
        "Every rule of one rules version in words (findings with tier, condition and source; the "
        "disposition; the activity rows), generated from the tables the service runs: as a markdown "
        "attachment and as the narrative. Ids: `lbp-triage-rules-2.0.0`, `lbp-triage-rules-1.0.0`.",
    ),
)


# --- $apply ------------------------------------------------------------------------------------

APPLY_PARAMETERS = ("subject", "data", "response", "url", "version", "persist")

APPLY_DESCRIPTION = """
Apply the triage rules of this PlanDefinition to a patient's answers: the same validation and the
same CarePlan as `POST /fhir/QuestionnaireResponse/$triage`, **without storing anything** (200, a
CarePlan with no id), unless `persist` is true.

The body is a **Parameters** resource:

- `subject` (valueString, required): the patient, `Patient/{id}`; it must be the response's subject;
- `data` (resource): the QuestionnaireResponse (a parameter named `response` is accepted instead);
- `persist` (valueBoolean, default false): true stores the triage exactly as `$triage` does
  (201 with `Location`, identifier replays and amendments, `If-None-Exist`, audit, webhooks);
- at the type level (`POST /fhir/PlanDefinition/$apply`): `url` (valueUri, optionally `|version`)
  and `version` (valueString) choose the PlanDefinition; the version defaults to the current rules.

The response must answer the Questionnaire version of this PlanDefinition's rules: a response to
`lbp-triage|1.0.0` applied to `lbp-triage-rules-2.0.0` is a **422** that says so. Invalid FHIR is a
**400**, broken Questionnaire rules a **422**, as for `$triage`. Scope: the same as `$triage`
(`QuestionnaireResponse.c`; a patient/ token only for its own patient), since the answers are PHI.
"""


@dataclass(frozen=True)
class ApplyRequest:
    subject: str
    response: dict[str, Any]
    url: str | None
    version: str | None
    persist: bool


def _bad(text: str) -> HttpProblem:
    return HttpProblem(400, "invalid", text)


def read_apply(parameters: dict[str, Any]) -> ApplyRequest:
    """The parameters of $apply: each known name at most once, nothing else."""
    given: dict[str, dict[str, Any]] = {}
    for parameter in parameters.get("parameter") or ():
        name = parameter.get("name")
        if name not in APPLY_PARAMETERS:
            raise _bad(
                "$apply takes the parameters "
                + ", ".join(APPLY_PARAMETERS)
                + "; not "
                + (f"'{name}'" if isinstance(name, str) and name.isidentifier() else "this one")
                + "."
            )
        if name in given:
            raise _bad(f"The parameter {name} of $apply may be given only once.")
        given[name] = parameter
    if "data" in given and "response" in given:
        raise _bad("Give the QuestionnaireResponse once: as 'data' or as 'response', not both.")
    holder = given.get("data") or given.get("response")
    response = holder.get("resource") if holder else None
    if not isinstance(response, dict) or response.get("resourceType") != "QuestionnaireResponse":
        raise _bad("$apply needs the QuestionnaireResponse as the resource of a parameter 'data' (or 'response').")
    subject = given.get("subject", {}).get("valueString")
    if not isinstance(subject, str):
        raise _bad("$apply needs 'subject' as a valueString: the patient, Patient/{id}.")
    url = given.get("url", {}).get("valueUri") if "url" in given else None
    if "url" in given and not isinstance(url, str):
        raise _bad("The parameter url of $apply is a valueUri.")
    version = given.get("version", {}).get("valueString") if "version" in given else None
    if "version" in given and not isinstance(version, str):
        raise _bad("The parameter version of $apply is a valueString.")
    persist = given["persist"].get("valueBoolean") if "persist" in given else False
    if not isinstance(persist, bool):
        raise _bad("The parameter persist of $apply is a valueBoolean.")
    return ApplyRequest(subject, response, url, version, persist)


def _named_version(request: ApplyRequest) -> tuple[str | None, str | None]:
    """The url and version the parameters name (url|version or url with version)."""
    if request.url is None:
        return None, request.version
    url, bar, version = request.url.partition("|")
    if bar and request.version is not None and version != request.version:
        raise _bad("The url's |version and the version parameter differ.")
    return url, (version if bar else request.version)


def _plan_by_canonical(request: ApplyRequest) -> dict[str, Any]:
    url, version = _named_version(request)
    if url is None:
        raise _bad(f"$apply at the type level needs 'url': {PLANDEFINITION_URL} (optionally |version).")
    plans = [p for p in knowledge.plan_definitions() if p["url"] == url and version in (None, p["version"])]
    if not plans:
        raise HttpProblem(
            404, "not-found", "No PlanDefinition with that url and version; see GET /fhir/PlanDefinition."
        )
    return plans[0]  # the current version first, when no version was named


def _check_names_this_plan(request: ApplyRequest, plan: dict[str, Any]) -> None:
    url, version = _named_version(request)
    if (url is not None and url != plan["url"]) or (version is not None and version != plan["version"]):
        raise _bad(f"url and version name another PlanDefinition than {plan['id']}.")


def _subject_matches(subject: str, response_subject: dict[str, Any], patient_id: str | None) -> bool:
    named = subject.removeprefix("Patient/")
    return subject == response_subject.get("reference") or (patient_id is not None and named == patient_id)


async def apply_plan(
    http: Request,
    context: RequestContext,
    triage: TriageServices,
    plan: dict[str, Any],
    apply: ApplyRequest,
) -> Response:
    # Validate first, always (400, 422), as $triage does; then the version and the subject.
    prepared = prepare(apply.response)
    answered = prepared.scored.response.version
    if answered != plan["version"]:
        raise Rejected(
            [
                Fault(
                    "business-rule",
                    f"The response answers Questionnaire lbp-triage|{answered}, whose rules are version "
                    f"{answered}; PlanDefinition {plan['id']} applies rules {plan['version']}. Apply "
                    f"PlanDefinition {knowledge.artifact_id(answered)} instead.",
                    "QuestionnaireResponse.questionnaire",
                )
            ]
        )
    response = prepared.scored.response
    if not _subject_matches(apply.subject, response.subject, response.patient_id):
        raise Rejected(
            [
                Fault(
                    "business-rule",
                    "The parameter subject is not the response's subject.",
                    "Parameters.parameter.where(name='subject')",
                )
            ]
        )
    if apply.persist:  # a create as $triage's, conditional (If-None-Exist) as its is
        condition = if_none_exist(http.headers.get("if-none-exist"))
        return await store_and_answer(http, context, triage, prepared, condition)
    if context.patient_only is not None and context.patient_only != response.patient_id:
        raise HttpProblem(403, "forbidden", "A patient-level token may apply the rules only to its own patient.")
    # audited as what it was: the operation on this PlanDefinition, about this patient (nothing stored)
    context.audit_patient = response.patient_id
    context.audit_resource_type, context.audit_resource_id = "PlanDefinition", plan["id"]
    context.audit_interaction = "operation"
    return FhirResponse(careplan_for(prepared.scored))


_APPLY_RESPONSES = {
    **fhir_ok("The CarePlan, not stored (with persist=true: stored, 201, as $triage answers)", "CarePlan"),
    400: outcome_response("Not valid FHIR R4, or the Parameters are not those of $apply"),
    404: outcome_response("No such PlanDefinition"),
    409: outcome_response("persist=true: the identifier names a different response (as $triage)"),
    422: outcome_response(
        "The response breaks the Questionnaire's rules, answers another rules version, or is not about the subject"
    ),
}


def _apply_examples(*extra: dict[str, Any]) -> dict[str, Any]:
    """The $triage examples of the current rules as $apply bodies (for lbp-triage-rules-2.0.0)."""
    return {
        name: {
            "summary": f"{EXAMPLE_SUMMARIES[name]} (rules 2: lbp-triage-rules-2.0.0)",
            "value": {
                "resourceType": "Parameters",
                "parameter": [
                    {"name": "subject", "valueString": example["subject"]["reference"]},
                    {"name": "data", "resource": {k: v for k, v in example.items() if k != "identifier"}},
                    *extra,
                ],
            },
        }
        for name, example in example_responses().items()
    }


async def _apply_body(http: Request, settings: Settings) -> ApplyRequest:
    check_operation_parameters("apply", http.query_params.multi_items(), {})
    return read_apply(await read_resource(http, settings, "Parameters"))


@router.post(
    "/PlanDefinition/$apply",
    summary="Apply the triage rules named by url (and version)",
    description=APPLY_DESCRIPTION,
    response_class=FhirResponse,
    responses=_APPLY_RESPONSES,
    openapi_extra=request_body(
        "A Parameters resource: subject, data, url (and version), persist.",
        _apply_examples({"name": "url", "valueUri": f"{PLANDEFINITION_URL}|2.0.0"}),
    ),
)
async def apply_by_canonical(request: Request, context: Context, triage: Triaging) -> Response:
    apply = await _apply_body(request, triage.settings)
    return await apply_plan(request, context, triage, _plan_by_canonical(apply), apply)


@router.post(
    "/PlanDefinition/{plan_id}/$apply",
    summary="Apply these triage rules to a patient's answers",
    description=APPLY_DESCRIPTION,
    response_class=FhirResponse,
    responses=_APPLY_RESPONSES,
    openapi_extra=request_body("A Parameters resource: subject, data, persist.", _apply_examples()),
)
async def apply_by_id(plan_id: str, request: Request, context: Context, triage: Triaging) -> Response:
    plan = knowledge.by_id(knowledge.plan_definitions(), plan_id)
    if plan is None:
        raise HttpProblem(404, "not-found", "No such PlanDefinition; see GET /fhir/PlanDefinition.")
    apply = await _apply_body(request, triage.settings)
    _check_names_this_plan(apply, plan)
    return await apply_plan(request, context, triage, plan, apply)


@router.api_route("/PlanDefinition/$apply", methods=["GET", "PUT", "PATCH", "DELETE"], include_in_schema=False)
@router.api_route(
    "/PlanDefinition/{plan_id}/$apply", methods=["GET", "PUT", "PATCH", "DELETE"], include_in_schema=False
)
async def apply_other_methods() -> Response:
    raise HttpProblem(405, "not-supported", "$apply is invoked with POST.", headers={"Allow": "POST"})


# After $apply's routes: GET /PlanDefinition/$apply is a 405, not a read of id "$apply".
for _kind in KNOWLEDGE_ARTIFACTS:
    publish(router, _kind)
