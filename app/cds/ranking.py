"""Dispositions and finding tiers by their codes, in order of urgency.

The rules tables (app/triage) own which codes exist; this module only knows how they rank,
so that cards and imaging advice follow a new code (rules version 2's `doctor-soon`
disposition and `S` tier) without being rewritten. A code this table does not know ranks as
the most urgent: an unknown finding must never silence a warning.
"""

from __future__ import annotations

# least urgent first
DISPOSITIONS = ("self-care", "doctor", "doctor-soon", "urgent", "emergency")
TIERS = ("D", "S", "U", "E")  # doctor, doctor-soon, urgent, emergency

_DISPOSITION_RANK = {code: rank for rank, code in enumerate(DISPOSITIONS)}
_TIER_RANK = {code: rank for rank, code in enumerate(TIERS)}


def disposition_rank(code: str) -> int:
    return _DISPOSITION_RANK.get(code, len(DISPOSITIONS))


def tier_rank(code: str | None) -> int:
    return _TIER_RANK.get(code or "", len(TIERS))


def at_least(disposition: str, floor: str) -> bool:
    return disposition_rank(disposition) >= _DISPOSITION_RANK[floor]


def tier_at_least(tier: str | None, floor: str) -> bool:
    return tier_rank(tier) >= _TIER_RANK[floor]


def card_indicator(disposition: str) -> str:
    """CDS Hooks card indicator for a triage's disposition."""
    if at_least(disposition, "urgent"):
        return "critical"
    if disposition == "doctor-soon":
        return "warning"
    return "info"
