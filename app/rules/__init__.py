"""Pure clinical logic: answers → findings → disposition, preference → plan. No I/O."""

from app.rules.engine import RULES_VERSION, triage
from app.rules.model import (
    ActivityStatus,
    Answers,
    Disposition,
    Finding,
    MedicineDecision,
    PlannedActivity,
    Preference,
    Priority,
    RiskGroup,
    StartBack,
    Tier,
    TriageResult,
)

__all__ = [
    "RULES_VERSION",
    "ActivityStatus",
    "Answers",
    "Disposition",
    "Finding",
    "MedicineDecision",
    "PlannedActivity",
    "Preference",
    "Priority",
    "RiskGroup",
    "StartBack",
    "Tier",
    "TriageResult",
    "triage",
]
