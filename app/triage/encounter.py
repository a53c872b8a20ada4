"""The Encounter that records one triage: a finished, virtual encounter whose priority
follows the disposition."""

from __future__ import annotations

from typing import Any

from app.rules import Disposition

_CLASS = {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "VR", "display": "virtual"}
_PRIORITY_SYSTEM = "http://terminology.hl7.org/CodeSystem/v3-ActPriority"
_PRIORITY = {
    Disposition.EMERGENCY: {"system": _PRIORITY_SYSTEM, "code": "EM", "display": "emergency"},
    Disposition.URGENT: {"system": _PRIORITY_SYSTEM, "code": "UR", "display": "urgent"},
    Disposition.DOCTOR_SOON: {"system": _PRIORITY_SYSTEM, "code": "A", "display": "ASAP"},
    Disposition.DOCTOR: {"system": _PRIORITY_SYSTEM, "code": "R", "display": "routine"},
    Disposition.SELF_CARE: {"system": _PRIORITY_SYSTEM, "code": "R", "display": "routine"},
}
_TYPE = [{"text": "Low back pain triage"}]
_REASON = [{"text": "Low back pain"}]


def render_encounter(
    encounter_id: str, disposition: Disposition, subject: dict[str, Any], at: str, meta: dict[str, Any]
) -> dict[str, Any]:
    return {
        "resourceType": "Encounter",
        "id": encounter_id,
        "meta": meta,
        "status": "finished",
        "class": _CLASS,
        "type": _TYPE,
        "priority": {"coding": [_PRIORITY[disposition]]},
        "subject": subject,
        "period": {"start": at, "end": at},
        "reasonCode": _REASON,
    }
