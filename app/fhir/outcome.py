"""Faults and the OperationOutcome that reports them.

A Fault is one thing wrong with a request, with a FHIRPath `expression` to where it
is and a sentence a person understands. Faults never quote the submitted values:
an OperationOutcome must not echo patient data back.
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


class Rejected(Exception):
    """A request that cannot be accepted, with every fault found."""

    def __init__(self, faults: Iterable[Fault], status: int = 422) -> None:
        self.faults = tuple(faults)
        self.status = status
        super().__init__("; ".join(f.diagnostics for f in self.faults))


def operation_outcome(faults: Iterable[Fault]) -> dict[str, Any]:
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
