"""One QuestionnaireResponse in, one CarePlan out: the use-case shared by the CLI and the API."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from app.kit.clock import instant
from app.rules import TriageResult, triage
from app.triage.careplan import render_careplan, response_reference
from app.triage.validation import ValidatedResponse, validate_response


@dataclass(frozen=True, slots=True)
class Scored:
    response: ValidatedResponse
    result: TriageResult


def score(data: Any, fast_path_done: bool = False) -> Scored:
    """Validate and triage a parsed QuestionnaireResponse. Raises outcome.Rejected.
    `fast_path_done`: see validation.check_fhir."""
    response = validate_response(data, fast_path_done=fast_path_done)
    return Scored(response, triage(response.answers, response.version))  # the rules of the version it answers


def careplan_for(scored: Scored, **references: Any) -> dict[str, Any]:
    references.setdefault("response_reference", response_reference(scored.response.resource))
    references.setdefault("created", instant())
    return render_careplan(scored.result, scored.response.subject, answers=scored.response.answers, **references)
