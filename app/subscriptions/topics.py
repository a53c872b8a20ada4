"""The subscription topics this service publishes, their filters, and which triage each matches.

Pure data and functions: no I/O. A topic is named by its canonical URL (what a Subscription
puts in `criteria`); filters come from the backport filter-criteria extension and narrow a
topic by patient and by disposition.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import parse_qsl

from app.fhir.canonical import BASE
from app.rules import Disposition

TOPIC_BASE = f"{BASE}/SubscriptionTopic"
TRIAGE_COMPLETED = f"{TOPIC_BASE}/triage-completed"
RED_FLAG_DETECTED = f"{TOPIC_BASE}/red-flag-detected"

# canonical URL → (plain words, the dispositions it covers)
TOPICS: dict[str, tuple[str, frozenset[str]]] = {
    TRIAGE_COMPLETED: ("Every new triage encounter.", frozenset(d.code for d in Disposition)),
    RED_FLAG_DETECTED: (
        "A triage whose disposition is emergency or urgent.",
        frozenset({Disposition.EMERGENCY.code, Disposition.URGENT.code}),
    ),
}
# The focus of every notification is the CarePlan; the Encounter is its additional context.
FILTER_RESOURCES = ("CarePlan", "Encounter")
FILTER_PARAMETERS = {
    "patient": "The patient: Patient/{id}",
    "disposition": "emergency, urgent, doctor-soon, doctor or self-care; several separated by commas (any of them)",
}
_PATIENT = re.compile(r"^(?:Patient/)?([A-Za-z0-9\-.]{1,64})$")


class FilterError(ValueError):
    """A filter-criteria value this service cannot apply; the message says why (no input echoed)."""


@dataclass(frozen=True, slots=True)
class Criteria:
    """What a subscription wants: a topic, narrowed by patient and by dispositions."""

    topic: str
    patient: str | None = None
    dispositions: frozenset[str] | None = None  # None: every disposition the topic covers
    end: datetime | None = None

    def matches(self, patient: str | None, disposition: str, at: datetime) -> bool:
        if disposition not in TOPICS[self.topic][1]:
            return False
        if self.patient is not None and patient != self.patient:
            return False
        if self.dispositions is not None and disposition not in self.dispositions:
            return False
        return self.end is None or at < self.end


def parse_filters(topic: str, filters: Iterable[str]) -> Criteria:
    """Filter-criteria strings such as `CarePlan?patient=Patient/123&disposition=urgent`.

    Several filters combine with AND; the resource type before `?` may be CarePlan or
    Encounter (or left out).
    """
    if topic not in TOPICS:
        raise FilterError("Unknown topic.")
    patient: str | None = None
    dispositions: frozenset[str] | None = None
    for text in filters:
        resource, sep, query = text.partition("?")
        if not sep:
            resource, query = "", text
        if resource and resource not in FILTER_RESOURCES:
            raise FilterError(f"A filter applies to {' or '.join(FILTER_RESOURCES)} resources.")
        pairs = parse_qsl(query, keep_blank_values=True, strict_parsing=False)
        if not pairs:
            raise FilterError("A filter must look like patient=Patient/123 or disposition=urgent.")
        for name, value in pairs:
            if name == "patient":
                match = _PATIENT.match(value)
                if not match:
                    raise FilterError("The patient filter must be Patient/{id}.")
                if patient is not None and patient != match.group(1):
                    raise FilterError("Two different patient filters can never both match.")
                patient = match.group(1)
            elif name == "disposition":
                codes = frozenset(code.split("|")[-1] for code in value.split(","))
                if not codes <= TOPICS[TRIAGE_COMPLETED][1]:
                    raise FilterError(
                        "The disposition filter takes emergency, urgent, doctor-soon, doctor or self-care."
                    )
                dispositions = codes if dispositions is None else dispositions & codes
            else:
                raise FilterError(f"Filters are by {' and '.join(FILTER_PARAMETERS)} only.")
    if dispositions is not None and not dispositions & TOPICS[topic][1]:
        raise FilterError("The disposition filter excludes every triage this topic reports.")
    return Criteria(topic, patient, dispositions)
