"""Hypothesis strategies for valid triage answers (Questionnaire 1.0.0; 2.0.0 in strategies_v2)."""

from hypothesis import strategies as st

from tests.support import items


def _value(spec):
    if spec.type == "boolean":
        return st.booleans()
    if spec.type == "integer":
        return st.integers(int(spec.min_value), int(spec.max_value))
    if spec.type == "decimal":
        return st.floats(spec.min_value, spec.max_value, allow_nan=False).map(lambda v: round(v, 1))
    return st.sampled_from(sorted(code for _, code in spec.options))


@st.composite
def valid_answers(draw):
    answers = {}
    for spec in items().values():
        if spec.enable_when:
            continue
        if spec.required or draw(st.booleans()):
            answers[spec.link_id] = draw(_value(spec))
    if answers.get("leg-weakness") is True:
        answers["leg-weakness-worsening"] = draw(st.booleans())
    return answers
