"""Hypothesis strategies: valid QuestionnaireResponses in their many lawful shapes, and the ways
a client can break them (wrong JSON types, nulls, empty arrays and objects, bad formats,
unknown elements, duplicate keys)."""

from __future__ import annotations

import copy
import json
from typing import Any

from hypothesis import strategies as st

from tests.strategies import valid_answers
from tests.support import response

XHTML = '<div xmlns="http://www.w3.org/1999/xhtml"><p>Answers as given by the patient.</p></div>'
EXTENSION = {"url": "https://example.org/fhir/StructureDefinition/note", "valueString": "seen"}

# Lawful additions a client may send: each is valid R4 for a QuestionnaireResponse.
OPTIONAL_FIELDS: dict[str, Any] = {
    "id": "client-side-1",
    "meta": {"lastUpdated": "2026-11-20T10:00:00.000+01:00", "tag": [{"system": "urn:x", "code": "t"}]},
    "language": "en-GB",
    "text": {"status": "generated", "div": XHTML},
    "identifier": {"system": "urn:example:forms", "value": "f-1"},
    "author": {"reference": "Practitioner/dr-1", "display": "Dr A. Person"},
    "source": {"reference": "Patient/p1"},
    "extension": [EXTENSION],
    "_status": {"extension": [EXTENSION]},
    "_authored": {"id": "a1"},
    "authored": "2026-11-20",
}


@st.composite
def valid_responses(draw: Any, patient: str = "p1") -> dict[str, Any]:
    qr = response(draw(valid_answers()), nested=draw(st.booleans()), patient=patient)
    for name in draw(st.lists(st.sampled_from(sorted(OPTIONAL_FIELDS)), unique=True, max_size=5)):
        qr[name] = copy.deepcopy(OPTIONAL_FIELDS[name])
    if draw(st.booleans()):
        item = qr["item"][draw(st.integers(0, len(qr["item"]) - 1))]
        item["text"] = draw(st.sampled_from(["How old are you?", "Any numbness\tor tingling?\n"]))
    if draw(st.booleans()):
        item = qr["item"][0]
        item["extension"] = [copy.deepcopy(EXTENSION)]
    if "identifier" in qr:
        qr["identifier"]["value"] = f"f-{draw(st.integers(0, 10**12))}"
    return qr


def _paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    """Every position in the tree (keys and indexes from the root), the root itself excluded."""
    found = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key != "resourceType":
                found.append((*prefix, key))
                found.extend(_paths(value, (*prefix, key)))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found.append((*prefix, index))
            found.extend(_paths(value, (*prefix, index)))
    return found


def _at(node: Any, path: tuple) -> Any:
    for step in path:
        node = node[step]
    return node


# Each replacement is invalid FHIR wherever it lands, for the kind of value it replaces.
_BAD_STRINGS = ["", "2026-13-45", "2026-11-20T25:00:00Z", "20261120", "a b c", " ", "not\ta code"]
REPLACEMENTS = {
    str: [None, 20261125, True, {}, [], ["x"], *_BAD_STRINGS],
    bool: [None, "false", "true", 0, 1, [], [True]],
    int: [None, "4", 4.5, True, [], [4]],
    float: [None, "4.5", True, []],
    dict: [None, "x", 7, [], {}, {"unknownElement": "x"}],
    list: [None, [], {}, "x", [None]],
}


@st.composite
def invalid_mutations(draw: Any, patient: str = "p1") -> tuple[dict[str, Any], str]:
    """A valid response with one thing broken, as (resource, kind of break). The resource may
    still be valid (a bad string that happens to fit); callers check it against the schema."""
    qr = draw(valid_responses(patient=patient))
    path = draw(st.sampled_from(_paths(qr)))
    parent, last = _at(qr, path[:-1]), path[-1]
    original = parent[last]
    if draw(st.integers(0, 9)) == 0 and isinstance(parent, dict):
        parent["unknownElement"] = original
        return qr, "unknown element"
    replacement = draw(st.sampled_from(REPLACEMENTS[type(original)]))
    parent[last] = copy.deepcopy(replacement)
    return qr, f"{type(original).__name__} → {json.dumps(replacement)}"


@st.composite
def duplicate_key_bodies(draw: Any, patient: str = "p1") -> bytes:
    """A valid response serialised with one object carrying one of its keys twice."""
    qr = draw(valid_responses(patient=patient))
    if draw(st.booleans()):  # written with \u escapes (json.dumps' default) and a colon in a string
        qr["item"][0]["text"] = "Douleur: où?"
    objects = [p for p in [(), *_paths(qr)] if isinstance(_at(qr, p), dict)]
    target = draw(st.sampled_from(objects))
    key = draw(st.sampled_from(sorted(_at(qr, target))))
    second = draw(st.sampled_from(["same", "other"]))

    def dump(node: Any, path: tuple) -> str:
        if isinstance(node, dict):
            parts = [f"{json.dumps(k)}:{dump(v, (*path, k))}" for k, v in node.items()]
            if path == target:
                value = node[key] if second == "same" else (not node[key] if isinstance(node[key], bool) else None)
                parts.append(f"{json.dumps(key)}:{json.dumps(value)}")
            return "{" + ",".join(parts) + "}"
        if isinstance(node, list):
            return "[" + ",".join(dump(v, (*path, i)) for i, v in enumerate(node)) + "]"
        return json.dumps(node)

    return dump(qr, ()).encode()
