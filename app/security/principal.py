"""The caller of a request, once authenticated."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from app.security.scopes import Grant, allowed


@dataclass(frozen=True, slots=True)
class Principal:
    subject: str  # token subject (JWT `sub`/`client_id`, static token name), for the audit trail
    grants: tuple[Grant, ...]
    patient: str | None = None  # the patient a patient/ grant is limited to
    unrestricted: bool = False  # auth mode none (loopback only)

    def permits(self, resource_type: str, interaction: str) -> Grant | None:
        if self.unrestricted:
            return Grant("system", "*", "cruds")
        return allowed(self.grants, resource_type, interaction)


def patient_of(resource: dict[str, Any] | None) -> str | None:
    """The Patient id a stored resource is about (its subject), for patient-level access."""
    reference = ((resource or {}).get("subject") or {}).get("reference") or ""
    return reference.rsplit("Patient/", 1)[1].split("/", 1)[0] if "Patient/" in reference else None
