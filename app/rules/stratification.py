"""Stratified care from the Keele STarT Back Screening Tool (Hill, Lancet 2011).

Items 1-8 are agree/disagree (agree scores 1); item 9 is a five-step choice whose two
highest steps score 1. Total = items 1-9; distress subscale = items 5-9.
Risk: total ≤ 3 → low; otherwise distress ≥ 4 → high; otherwise medium.
The tool's wording belongs to Keele University and is not held here: only the scoring.
"""

from __future__ import annotations

from app.rules.model import Answers, RiskGroup, StartBack

STARTBACK_ITEMS = tuple(f"sbt-{n}" for n in range(1, 10))
DISTRESS_ITEMS = STARTBACK_ITEMS[4:]  # items 5-9
# The answer codes that score 1 (the Questionnaire's answerOption codes).
SCORING_ANSWERS = frozenset({"agree", "very-much", "extremely"})
LOW_RISK_MAX_TOTAL = 3
HIGH_RISK_MIN_DISTRESS = 4


def item_score(answers: Answers, link_id: str) -> int:
    return 1 if answers.get(link_id) in SCORING_ANSWERS else 0


def startback(answers: Answers) -> StartBack | None:
    """The scores, or None when the tool was not answered (validation makes it all or none)."""
    get = answers.get
    values = [get(link_id) for link_id in STARTBACK_ITEMS]
    if None in values:
        return None
    scored = [value in SCORING_ANSWERS for value in values]
    total, distress = sum(scored), sum(scored[4:])  # items 1-9, items 5-9
    if total <= LOW_RISK_MAX_TOTAL:
        risk = RiskGroup.LOW
    elif distress >= HIGH_RISK_MIN_DISTRESS:
        risk = RiskGroup.HIGH
    else:
        risk = RiskGroup.MEDIUM
    return StartBack(total, distress, risk)
