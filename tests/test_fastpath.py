"""The fast path is never weaker than R4B: whatever it accepts, fhir.resources R4B accepts."""

from fhir.resources.R4B.questionnaireresponse import QuestionnaireResponse
from hypothesis import given
from hypothesis import strategies as st

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
