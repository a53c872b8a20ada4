"""The fast path is never weaker than R4B: whatever it accepts, fhir.resources R4B accepts."""

import pytest
from fhir.resources.R4B.questionnaireresponse import QuestionnaireResponse
from hypothesis import given
from hypothesis import strategies as st

from app.fhir import r4
from app.triage import fastpath
from tests.strategies import valid_answers
from tests.support import response

texts = st.one_of(st.text(max_size=12), st.sampled_from(["a", " a", "a ", "", "\t", "x\ny", "Patient/1"]))
uris = st.one_of(texts, st.sampled_from(["http://x.org/a", "urn:uuid:1", "a b"]))
dates = st.one_of(
    st.sampled_from(
        [
            "2026-11-20",
            "2026-02-30",
            "2026-11-20T10:00:00Z",
            "2026-11-20T10:00:00",
            "2026-11-20T25:00:00Z",
            "2026-11-20T10:00:00.123456789+01:00",
            "0000-01-01",
            "2026-11-20T10:00:00+14:00",
            "2026",
            "2026-13-01",
        ]
    ),
    texts,
)
numbers = st.one_of(st.integers(), st.floats(), st.booleans(), st.integers(-(2**31), 2**31 - 1))
values = st.one_of(
    st.fixed_dictionaries({"valueBoolean": st.one_of(st.booleans(), st.integers(0, 1), texts)}),
    st.fixed_dictionaries({"valueInteger": numbers}),
    st.fixed_dictionaries({"valueDecimal": numbers}),
    st.fixed_dictionaries(
        {
            "valueCoding": st.fixed_dictionaries(
                {}, optional={"system": uris, "code": texts, "display": texts, "version": texts}
            )
        }
    ),
    st.fixed_dictionaries({"valueBoolean": st.booleans(), "valueInteger": st.integers()}),
    st.fixed_dictionaries({}),
)
items = st.recursive(
    st.fixed_dictionaries({"linkId": texts}, optional={"text": texts, "answer": st.lists(values, max_size=2)}),
    lambda children: st.fixed_dictionaries(
        {"linkId": texts}, optional={"item": st.lists(children, max_size=3), "answer": st.lists(values, max_size=1)}
    ),
    max_leaves=6,
)
references = st.fixed_dictionaries({}, optional={"reference": texts, "type": uris, "display": texts})
responses = st.fixed_dictionaries(
    {
        "resourceType": st.just("QuestionnaireResponse"),
        "status": st.sampled_from(["completed", "amended", "in-progress", "done", ""]),
    },
    optional={
        "id": st.one_of(texts, st.from_regex(r"[A-Za-z0-9\-.]{1,70}", fullmatch=True)),
        "identifier": st.fixed_dictionaries({}, optional={"system": uris, "value": texts}),
        "questionnaire": uris,
        "subject": references,
        "author": references,
        "authored": dates,
        "item": st.lists(items, max_size=4),
    },
)


def r4b_accepts(data):
    try:
        QuestionnaireResponse.model_validate(data)
    except Exception:  # any rejection
        return False
    return True


@given(responses)
def test_whatever_the_fast_path_accepts_r4b_accepts(data):
    if fastpath.accepts(data):
        assert r4b_accepts(data), data


@given(valid_answers())
def test_the_fast_path_takes_ordinary_responses(answers):
    qr = response(answers, nested=bool(len(answers) % 2), identifier={"system": "urn:x", "value": "r-1"})
    assert fastpath.accepts(qr)
    assert r4b_accepts(qr)


# The fast path stands in for the R4 structure walk on the bodies it covers (read_resource skips
# the walk for them): whatever it covers, the walk accepts.

QR = {"resourceType": "QuestionnaireResponse", "status": "completed"}
# Bodies the fast model takes but the walk refuses: covers_structure must not vouch for them.
WALK_REFUSES = [
    (dict(QR, authored="2026-11-20T10:00:00+15:00"), 64),  # offset beyond +14:00
    (dict(QR, subject={}), 64),  # an empty object
    (dict(QR, identifier={}), 64),
    (dict(QR, item=[{"linkId": "a", "answer": [{"valueCoding": {}}]}]), 64),
    (dict(QR, item=[{"linkId": "a\u00a0b"}]), 64),  # a no-break space inside a string
    (dict(QR, item=[{"linkId": "a", "text": "x\u2028y"}]), 64),
    (dict(QR, identifier={"system": "urn:a\x1cb"}), 64),  # a separator the uri pattern refuses
    (dict(QR, item=[{"linkId": "a", "item": [{"linkId": "b", "item": [{"linkId": "c"}]}]}]), 6),  # too deep
]


@pytest.mark.parametrize(("data", "max_depth"), WALK_REFUSES)
def test_the_fast_path_does_not_vouch_where_the_walk_refuses(data, max_depth):
    assert fastpath.accepts(data)  # the model alone would have taken it
    assert r4.structure_faults(data, max_depth)
    assert not fastpath.covers_structure(data, max_depth)


@given(responses, st.one_of(st.integers(1, 12), st.just(64)))
def test_whatever_the_fast_path_covers_the_structure_walk_accepts(data, max_depth):
    if fastpath.covers_structure(data, max_depth):
        assert r4.structure_faults(data, max_depth) == [], data


@given(valid_answers())
def test_ordinary_responses_are_covered_without_the_walk(answers):
    qr = response(answers, nested=bool(len(answers) % 2), identifier={"system": "urn:x", "value": "r-1"})
    assert fastpath.covers_structure(qr, 64)
