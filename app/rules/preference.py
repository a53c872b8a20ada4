"""Directional preference (§ Symptoms, § Physical Therapy).

Pain made worse by bending, squatting and sitting is flexion-sensitive; pain made
worse by standing, walking, arching or lying face down is extension-sensitive.
Each group is scored worse = +1, better = -1, no change (or unanswered) = 0.
"""

from __future__ import annotations

from app.rules.model import Answers, AnswerValue, Preference

FLEXION_POSITIONS = ("position-bending", "position-squatting", "position-sitting")
EXTENSION_POSITIONS = (
    "position-standing",
    "position-walking",
    "position-arching",
    "position-lying-prone",
)
# looked up with any answer: one that is not a position scores 0
POSITION_SCORE: dict[AnswerValue, int] = {"worse": 1, "better": -1, "no-change": 0}


def group_score(answers: Answers, positions: tuple[str, ...]) -> int:
    score = 0
    for position in positions:
        score += POSITION_SCORE.get(answers.get(position, "no-change"), 0)
    return score


def directional_preference(answers: Answers) -> Preference:
    flexion = group_score(answers, FLEXION_POSITIONS)
    extension = group_score(answers, EXTENSION_POSITIONS)
    if flexion > 0 and extension <= 0:
        return Preference.FLEXION_SENSITIVE
    if extension > 0 and flexion <= 0:
        return Preference.EXTENSION_SENSITIVE
    return Preference.NO_PREFERENCE


def directional_preference_v2(answers: Answers) -> Preference:
    """Rules 2: relief counts too. Extension is favoured (the pain is flexion-sensitive) when
    flexion hurts or extension relieves, and neither extension hurts nor flexion relieves;
    flexion is favoured in the mirror case. Pregnancy: neutral (no direction is suggested)."""
    if answers.get("pregnant") is True:
        return Preference.NO_PREFERENCE
    flexion = group_score(answers, FLEXION_POSITIONS)
    extension = group_score(answers, EXTENSION_POSITIONS)
    favours_extension = flexion > 0 or extension < 0
    favours_flexion = extension > 0 or flexion < 0
    if favours_extension and not favours_flexion:
        return Preference.FLEXION_SENSITIVE
    if favours_flexion and not favours_extension:
        return Preference.EXTENSION_SENSITIVE
    return Preference.NO_PREFERENCE


# Which exercise each preference leads to: move away from the direction that hurts.
DIRECTIONAL_EXERCISE = {
    Preference.FLEXION_SENSITIVE: "directional-exercise-extension",
    Preference.EXTENSION_SENSITIVE: "directional-exercise-flexion",
    Preference.NO_PREFERENCE: "directional-exercise-neutral",
}
