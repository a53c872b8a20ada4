"""Faults, the one error that reports them, and the OperationOutcome that carries them.

A Fault is one thing wrong with a request, with a FHIRPath `expression` to where it
is and a sentence a person understands. Faults never quote the submitted values:
an OperationOutcome must not echo patient data back.

Every error the service answers is a FhirError (status, faults, headers), answered by one
handler (app/fhir/errors.py) as the OperationOutcome `operation_outcome` builds. Its two
named forms read as the call sites mean them: HttpProblem, one fault; Rejected, every fault
found in a request that cannot be accepted (422, or 400 for what is not FHIR).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Fault:
    code: str  # FHIR issue-type: structure, required, value, invalid, business-rule, ...
    diagnostics: str
    expression: str | None = None
    severity: str = "error"


class FhirError(Exception):
    """An error answered with an OperationOutcome of its faults, this HTTP status and these headers."""

    def __init__(self, status: int, faults: Iterable[Fault], headers: dict[str, str] | None = None) -> None:
        self.status = status
        self.faults = tuple(faults)
        self.headers = headers or {}
        super().__init__("; ".join(f.diagnostics for f in self.faults))


class HttpProblem(FhirError):
    """An error of one fault: `code` (the FHIR issue type) and a sentence for people."""

    def __init__(self, status: int, code: str, diagnostics: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(status, (Fault(code, diagnostics),), headers)


class Rejected(FhirError):
    """A request that cannot be accepted, with every fault found."""

    def __init__(self, faults: Iterable[Fault], status: int = 422) -> None:
        super().__init__(status, faults)


def operation_outcome(faults: Iterable[Fault]) -> dict[str, Any]:
    """The one builder of an OperationOutcome: every error answer, summary and CLI verdict."""
    issues = []
    for fault in faults:
        issue: dict[str, Any] = {
            "severity": fault.severity,
            "code": fault.code,
            "diagnostics": fault.diagnostics,
        }
        if fault.expression:
            issue["expression"] = [fault.expression]
        issues.append(issue)
    return {"resourceType": "OperationOutcome", "issue": issues}


def single_outcome(code: str, diagnostics: str, severity: str = "error") -> dict[str, Any]:
    return operation_outcome([Fault(code, diagnostics, severity=severity)])
