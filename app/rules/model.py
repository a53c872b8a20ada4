"""The words of the triage domain: dispositions, tiers, findings, the plan.

Everything here is plain data so that the engine stays a pure function and its
results can be compared, hashed and rendered by the FHIR layer without surprises.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum, IntEnum, StrEnum

# An answer as the engine sees it: booleans, integers, decimals (as float) and
# the `code` of a choice answer. Keyed by the Questionnaire linkId.
AnswerValue = bool | int | float | str
Answers = Mapping[str, AnswerValue]

# Evidence: the (linkId, answer) pairs that made a finding fire. None stands for "not
# answered" where a rule reads an absent optional answer (e.g. no previous episodes).
Evidence = tuple[tuple[str, AnswerValue | None], ...]


class Disposition(IntEnum):
    """Where the patient goes next. Ordered: a higher value is more urgent."""

    SELF_CARE = 0
    DOCTOR = 1
    DOCTOR_SOON = 2  # rules 2: see a doctor within a few days
    URGENT = 3
    EMERGENCY = 4

    @property
    def code(self) -> str:
        return _DISPOSITION_CODES[self]

    @classmethod
    def from_code(cls, code: str) -> Disposition:
        return _DISPOSITION_BY_CODE[code]


_DISPOSITION_CODES = {
    Disposition.SELF_CARE: "self-care",
    Disposition.DOCTOR: "doctor",
    Disposition.DOCTOR_SOON: "doctor-soon",
    Disposition.URGENT: "urgent",
    Disposition.EMERGENCY: "emergency",
}
_DISPOSITION_BY_CODE = {code: d for d, code in _DISPOSITION_CODES.items()}


class Tier(Enum):
    """How urgent a finding is; each tier leads to one disposition."""

    E = Disposition.EMERGENCY
    U = Disposition.URGENT
    S = Disposition.DOCTOR_SOON  # rules 2 only
    D = Disposition.DOCTOR

    @property
    def disposition(self) -> Disposition:
        return self.value


class Preference(StrEnum):
    """Directional preference: which movements the pain is sensitive to."""

    FLEXION_SENSITIVE = "flexion-sensitive"
    EXTENSION_SENSITIVE = "extension-sensitive"
    NO_PREFERENCE = "no-preference"


class ActivityStatus(StrEnum):
    NOT_STARTED = "not-started"
    ON_HOLD = "on-hold"


class Priority(StrEnum):
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
    description: str = ""  # what the patient reads
    hold_reason: str | None = None  # why it is on hold (detail.statusReason), when it is


class RiskGroup(StrEnum):
    """STarT Back risk group (Hill 2011)."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


@dataclass(frozen=True, slots=True)
class StartBack:
    """STarT Back scores: total (items 1-9) and distress subscale (items 5-9)."""

    total: int
    distress: int
    risk: RiskGroup


@dataclass(frozen=True, slots=True)
class MedicineDecision:
    """What the plan does with one medicine and why, for the clinician narrative."""

    medicine: str  # "NSAID", "acetaminophen"
    decision: str  # "offered", "on hold", "withheld", "ask first"
    reasons: tuple[str, ...] = ()  # plain words, e.g. "pregnancy"


@dataclass(frozen=True, slots=True)
class TriageResult:
    rules_version: str
    disposition: Disposition
    findings: tuple[Finding, ...]
    preference: Preference
    activities: tuple[PlannedActivity, ...]
    startback: StartBack | None = None  # rules 2, when the STarT Back items were answered
    bmi: float | None = None  # from height and weight, when both were answered
    medicines: tuple[MedicineDecision, ...] = ()  # rules 2

    @property
    def finding_codes(self) -> tuple[str, ...]:
        return tuple(f.code for f in self.findings)
