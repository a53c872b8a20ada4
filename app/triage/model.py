"""The words of the triage domain: dispositions, tiers, findings, the plan.

Everything here is plain data so that the engine stays a pure function and its
results can be compared, hashed and rendered by the FHIR layer without surprises.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum, IntEnum
from typing import Mapping, Union

# An answer as the engine sees it: booleans, integers, decimals (as float) and
# the `code` of a choice answer. Keyed by the Questionnaire linkId.
AnswerValue = Union[bool, int, float, str]
Answers = Mapping[str, AnswerValue]

# Evidence: the (linkId, answer) pairs that made a finding fire.
Evidence = tuple[tuple[str, AnswerValue], ...]


class Disposition(IntEnum):
    """Where the patient goes next. Ordered: a higher value is more urgent."""

    SELF_CARE = 0
    DOCTOR = 1
    URGENT = 2
    EMERGENCY = 3

    @property
    def code(self) -> str:
        return _DISPOSITION_CODES[self]

    @classmethod
    def from_code(cls, code: str) -> "Disposition":
        return _DISPOSITION_BY_CODE[code]


_DISPOSITION_CODES = {
    Disposition.SELF_CARE: "self-care",
    Disposition.DOCTOR: "doctor",
    Disposition.URGENT: "urgent",
    Disposition.EMERGENCY: "emergency",
}
_DISPOSITION_BY_CODE = {code: d for d, code in _DISPOSITION_CODES.items()}


class Tier(Enum):
    """How urgent a finding is; each tier leads to one disposition."""

    E = Disposition.EMERGENCY
    U = Disposition.URGENT
    D = Disposition.DOCTOR

    @property
    def disposition(self) -> Disposition:
        return self.value


class Preference(str, Enum):
    """Directional preference: which movements the pain is sensitive to."""

    FLEXION_SENSITIVE = "flexion-sensitive"
    EXTENSION_SENSITIVE = "extension-sensitive"
    NO_PREFERENCE = "no-preference"


class ActivityStatus(str, Enum):
    NOT_STARTED = "not-started"
    ON_HOLD = "on-hold"


class Priority(str, Enum):
    """FHIR request priority, used for the referral-type activities."""

    STAT = "stat"
    URGENT = "urgent"
    ROUTINE = "routine"


@dataclass(frozen=True, slots=True)
class Finding:
    code: str
    tier: Tier
    evidence: Evidence


@dataclass(frozen=True, slots=True)
class PlannedActivity:
    code: str
    status: ActivityStatus
    reasons: tuple[str, ...]  # finding codes (and the preference, for directional exercise)
    priority: Priority | None = None  # set for referral-type activities only
    # Acetaminophen for a patient who should not take NSAIDs: ask a clinician first.
    ask_clinician_first: bool = False


@dataclass(frozen=True, slots=True)
class TriageResult:
    rules_version: str
    disposition: Disposition
    findings: tuple[Finding, ...]
    preference: Preference
    activities: tuple[PlannedActivity, ...]

    @property
    def finding_codes(self) -> tuple[str, ...]:
        return tuple(f.code for f in self.findings)
