"""Hypothesis strategies for valid responses to Questionnaire 2.0.0."""

from hypothesis import strategies as st

from app.rules.stratification import STARTBACK_ITEMS
from tests.support_v2 import INDEX, ITEMS


def value_of(spec):
    if spec.type == "boolean":
        # warning signs mostly "no", so that plans below emergency are explored too
        return st.booleans() if spec.group != "warning-signs" else st.sampled_from([False, False, False, True])
    if spec.type == "integer":
        return st.integers(int(spec.min_value), int(spec.max_value))
    if spec.type == "decimal":
        return st.floats(spec.min_value, spec.max_value, allow_nan=False).map(lambda v: round(v, 1))
    return st.sampled_from(sorted(code for _, code in spec.options))


def complete(draw, answers):
    """Answer every enabled required question still unanswered (in Questionnaire order, so a
    question's enablers come first), and drop answers to disabled ones."""
    answered_groups = {ITEMS[link_id].group for link_id in answers}
    for spec in ITEMS.values():
        if not spec.enabled(answers):
            answers.pop(spec.link_id, None)
            continue
        if spec.link_id in answers:
            continue
        if INDEX.required_now(spec, set(answers)) or (
            spec.group in INDEX.all_or_none and spec.group in answered_groups
        ):
            answers[spec.link_id] = draw(value_of(spec))
    return answers


@st.composite
def valid_answers_v2(draw):
    answers = {}
    with_startback = draw(st.booleans())
    for spec in ITEMS.values():
        if spec.link_id in STARTBACK_ITEMS:
            if with_startback:
                answers[spec.link_id] = draw(value_of(spec))
            continue
        if not spec.enabled(answers):
            continue
        if spec.required or draw(st.booleans()):
            answers[spec.link_id] = draw(value_of(spec))
    return answers
