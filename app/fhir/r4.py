"""Structural checks shared by every resource the service accepts: is the body a resource
of the expected type, and is it valid FHIR R4 (per the fhir.resources R4B models)? Both
answer 400 with an OperationOutcome whose expressions point at the fault."""

from __future__ import annotations

import re
from typing import Any

from pydantic import ValidationError

from .outcome import Fault, Rejected

_ISSUE_CODE = {  # pydantic error type → FHIR issue-type (after fhirstarter)
    "missing": "required",
    "extra_forbidden": "structure",
    "json_invalid": "structure",
    "literal_error": "value",
    "string_pattern_mismatch": "value",
}
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def expect_resource(data: Any, resource_type: str) -> None:
    if not isinstance(data, dict):
        raise Rejected([Fault("structure", "The body must be a JSON object (a FHIR resource).")], 400)
    if data.get("resourceType") != resource_type:
        raise Rejected([Fault("structure", f"The resource must be a {resource_type}.",
                              f"{resource_type}.resourceType")], 400)


def loc_to_fhirpath(root: str, loc: tuple[Any, ...]) -> str:
    path = root
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif isinstance(part, str) and _NAME.match(part):
            path += f".{part}"
    return path


def check_r4(model: Any, data: dict[str, Any]) -> None:
    """Raise Rejected(400), every fault listed, unless the R4B model accepts the data."""
    root = data.get("resourceType", "Resource")
    try:
        model.model_validate(data)
    except ValidationError as exc:
        raise Rejected([
            Fault(_ISSUE_CODE.get(err["type"], "invalid"), f"Not valid FHIR R4: {err['msg']}.",
                  loc_to_fhirpath(root, err["loc"]))
            for err in exc.errors(include_input=False, include_url=False)
        ], 400) from None
    except (TypeError, ValueError) as exc:  # fhir.resources raises some of these directly
        raise Rejected([Fault("structure", f"Not valid FHIR R4: {type(exc).__name__}.")], 400) from None
