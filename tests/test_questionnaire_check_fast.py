"""The Questionnaire check takes a well-formed item in one step (`_Checker.well_formed`) and
sends anything else the long way. Both ways must agree on every response: the same answers,
or the same faults in the same order."""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from app.fhir.outcome import Rejected
from app.triage import validation
from tests.strategies import valid_answers
from tests.strategies_v2 import valid_answers_v2
from tests.support import response
from tests.support_v2 import response_v2


# Ways one item of a response can go wrong (or stay lawful but unusual).
def _break(draw: Any, items: list[Any], kind: str) -> None:
    i = draw(st.integers(0, len(items) - 1))
    item = items[i]
    children = item.get("item")
    if children:  # a group: break one of its questions
        items, i = children, draw(st.integers(0, len(children) - 1))
        item = items[i]
    answer = (item.get("answer") or [{}])[0]
    value_key = next(iter(answer), None)
    if kind == "wrong type":
        item["answer"] = [{"valueString": "yes"}]
    elif kind == "two answers":
        item["answer"] = [answer, copy.deepcopy(answer)]
    elif kind == "repeated":
        items.append(copy.deepcopy(item))
    elif kind == "nested":
        item["item"] = [{"linkId": "age"}]
    elif kind == "removed":
        del items[i]
    elif kind == "no answer":
        item.pop("answer", None)
    elif kind == "empty answer":
        item["answer"] = []
    elif kind == "out of range" and value_key in ("valueInteger", "valueDecimal"):
        answer[value_key] = 100000
    elif kind == "float for integer" and value_key == "valueInteger":
        answer[value_key] = float(answer[value_key])
    elif kind == "int for decimal" and value_key == "valueDecimal":
        answer[value_key] = int(answer[value_key])
    elif kind == "unknown code" and value_key == "valueCoding":
        answer[value_key] = {"system": answer[value_key]["system"], "code": "never"}
    elif kind == "flipped" and value_key == "valueBoolean":
        answer[value_key] = not answer[value_key]
    elif kind == "unknown linkId":
        item["linkId"] = "not-a-question"
    elif kind == "wrong group":
        items[i] = {"linkId": "self-care", "item": [item]}
    elif kind == "text":
        item["text"] = "The question as shown"
    elif kind == "answer with items":
        answer["item"] = [{"linkId": "age"}]


KINDS = [
    "wrong type",
    "two answers",
    "repeated",
    "nested",
    "removed",
    "no answer",
    "empty answer",
    "out of range",
    "float for integer",
    "int for decimal",
    "unknown code",
    "flipped",
    "unknown linkId",
    "wrong group",
    "text",
    "answer with items",
]


@st.composite
def responses(draw: Any) -> dict[str, Any]:
    if draw(st.booleans()):
        qr = response_v2(draw(valid_answers_v2()), nested=draw(st.booleans()))
    else:
        qr = response(draw(valid_answers()), nested=draw(st.booleans()))
    for kind in draw(st.lists(st.sampled_from(KINDS), max_size=3)):
        if qr["item"]:
            _break(draw, qr["item"], kind)
    return qr


def _outcome(qr: dict[str, Any]) -> Any:
    try:
        checked = validation.check_against_questionnaire(qr)
    except Rejected as rejected:
        return "rejected", rejected.status, rejected.faults
    # in order, each value with its type (a yes is not a 1, 40.0 is not 40)
    return "accepted", [(k, type(v), v) for k, v in checked.answers.items()], checked.version


@given(responses())
def test_the_one_step_and_the_long_way_agree(qr):
    one_step = _outcome(copy.deepcopy(qr))
    original = validation._Checker.well_formed
    validation._Checker.well_formed = lambda self, item, where, group: False
    try:
        long_way = _outcome(qr)
    finally:
        validation._Checker.well_formed = original
    assert one_step == long_way
