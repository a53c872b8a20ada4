"""Pure clinical logic: answers → findings → disposition, preference → plan. No I/O."""

from .engine import RULES_VERSION, triage
from .model import (
    ActivityStatus,
    MedicineDecision,
    RiskGroup,
    StartBack,
    Answers,
    Disposition,
    Finding,
    PlannedActivity,
    Preference,
    Priority,
    Tier,
    TriageResult,
)

__all__ = [
    "RULES_VERSION",
    "triage",
    "ActivityStatus",
    "MedicineDecision",
    "RiskGroup",
    "StartBack",
    "Answers",
    "Disposition",
    "Finding",
    "PlannedActivity",
    "Preference",
    "Priority",
    "Tier",
    "TriageResult",
]
