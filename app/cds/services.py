"""The CDS services this server offers, as its discovery document lists them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

PREFETCH_KEY = "lbpResponse"
PREFETCH_TEMPLATE = "QuestionnaireResponse?subject={{context.patientId}}&_sort=-authored&_count=1"
TRIAGE, IMAGING = "triage", "imaging"


@dataclass(frozen=True, slots=True)
class Service:
    id: str
    hook: str  # the hook discovery announces for this id
    kind: str  # TRIAGE or IMAGING
    title: str
    description: str

    @property
    def hooks(self) -> tuple[str, ...]:
        """Every hook this id answers: a triage service on either chart hook, an imaging
        service on either order hook (EHRs configure one id for both)."""
        return ("patient-view", "encounter-start") if self.kind == TRIAGE else ("order-select", "order-sign")


_TRIAGE_WORDS = (
    "Cards from the patient's latest low back pain triage: critical for emergency or urgent "
    "(with the findings), warning for doctor-soon, info otherwise; a suggestion creates the "
    "CarePlan."
)
_IMAGING_WORDS = (
    "Lumbar spine imaging ordered in the first 6 weeks of back pain without red flags: a warning "
    "(patient guide § Imaging Studies, CMS166) with a suggestion to remove the order; with red "
    "flags, an info card naming them."
)

SERVICES: dict[str, Service] = {
    s.id: s
    for s in (
        Service("lbp-triage", "patient-view", TRIAGE, "Low back pain triage", _TRIAGE_WORDS),
        Service(
            "lbp-triage-encounter-start",
            "encounter-start",
            TRIAGE,
            "Low back pain triage (encounter start)",
            _TRIAGE_WORDS,
        ),
        Service("lbp-imaging", "order-sign", IMAGING, "Lumbar spine imaging in acute low back pain", _IMAGING_WORDS),
        Service(
            "lbp-imaging-order-select",
            "order-select",
            IMAGING,
            "Lumbar spine imaging in acute low back pain (order select)",
            _IMAGING_WORDS,
        ),
    )
}


def discovery() -> dict[str, Any]:
    return {
        "services": [
            {
                "hook": s.hook,
                "title": s.title,
                "description": s.description,
                "id": s.id,
                "prefetch": {PREFETCH_KEY: PREFETCH_TEMPLATE},
                "usageRequirements": "Send the JWT of an EHR allowlisted by the operator (LBP_CDS_CLIENTS). "
                f"Also answers {' and '.join(h for h in s.hooks if h != s.hook)} at this id.",
            }
            for s in SERVICES.values()
        ]
    }
