"""What a subscription may carry: its creator's authority, taken at creation and kept with it.

A subscription notifies only what the token that created it could read. An event's focus is a
CarePlan (every notification names one), and `full-resource` notifications also carry the
Encounter, so creating one needs read access to those types; a patient-level grant binds the
subscription to the token's patient. The authority is stored with the subscription and checked
again when each notification is delivered: the dispatcher sends nothing outside it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from app.fhir.outcome import HttpProblem
from app.security.principal import Principal

# What each payload content carries, beyond the subscription itself.
CARRIED = {"id-only": ("CarePlan",), "full-resource": ("CarePlan", "Encounter")}
READABLE = ("CarePlan", "Encounter")


class Forbidden(HttpProblem):
    """The creator may not read what the subscription would carry (403); the message says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(403, "forbidden", reason)


@dataclass(frozen=True, slots=True)
class Authority:
    reads: frozenset[str]  # resource types the creator may read (of those notifications carry)
    patient: str | None  # the only patient whose events may be delivered; None: every patient

    def as_json(self) -> dict[str, Any]:
        return {"reads": sorted(self.reads), "patient": self.patient}

    @classmethod
    def from_json(cls, value: Any) -> Authority:
        """A stored authority. Subscriptions older than this check have none: they are held to
        references only (no resources) until re-created."""
        if not isinstance(value, dict):
            return cls(frozenset(), None)
        return cls(frozenset(value.get("reads") or ()), value.get("patient"))

    def covers(self, patient: str | None) -> bool:
        return self.patient is None or patient == self.patient


def subscription_authority(principal: Principal | None, content: str, patient_filter: str | None) -> Authority:
    """The authority a new subscription carries, or Forbidden."""
    if principal is None:
        raise Forbidden("No caller to take the subscription's authority from.")
    reads, compartment = set(), None
    for resource_type in READABLE:
        grant = principal.permits(resource_type, "read")
        if grant is None:
            continue
        reads.add(resource_type)
        if grant.level == "patient":
            if not principal.patient:
                raise Forbidden("A patient-level grant without a patient cannot subscribe.")
            compartment = principal.patient
    missing = [t for t in CARRIED[content] if t not in reads]
    if missing:
        raise Forbidden(
            f"A {content} subscription carries {' and '.join(CARRIED[content])}; the token's "
            f"scopes do not allow reading {' or '.join(missing)}."
        )
    if compartment is not None and patient_filter not in (None, compartment):
        raise Forbidden("A patient-level token may subscribe only to its own patient's events.")
    return Authority(frozenset(reads), compartment)
