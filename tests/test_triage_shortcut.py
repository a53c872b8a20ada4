"""$triage answers exactly as its route does when the shortcut (app/triage/shortcut.py) serves it.

The shortcut calls the route's own endpoint without FastAPI's routing; a dependency override
sends the request through FastAPI's route instead. Each request below is sent both ways and
the answers compared: status, media type, Location's shape, and the body (ids and times aside).
"""

from __future__ import annotations

import re
from typing import Any

import orjson
import pytest

from app.triage.deps import triage_services
from app.triage.shortcut import TriageShortcut
from tests.support import FHIR_JSON, TRIAGE, response
from tests.support_v2 import response_v2

_VOLATILE = re.compile(
    rb'"(id|lastUpdated|created|reference|fullUrl|versionId|start|end|recorded|authored|date|issued|effectiveDateTime)":"[^"]*"'
)

_UUID = re.compile(rb"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def _send(client: Any, body: bytes, headers: dict[str, str], query: str, *, through_route: bool) -> Any:
    if through_route:
        client.app.dependency_overrides[triage_services] = triage_services  # the same services, FastAPI's way
    try:
        return client.post(TRIAGE + query, content=body, headers={"Content-Type": FHIR_JSON, **headers})
    finally:
        client.app.dependency_overrides.pop(triage_services, None)


def _shape(answer: Any) -> tuple[int, str | None, str | None, bytes]:
    location = answer.headers.get("location")
    return (
        answer.status_code,
        answer.headers.get("content-type"),
        re.sub(r"/[^/]+$", "/*", location) if location else None,
        _UUID.sub(b"*", _VOLATILE.sub(rb'"\1":"*"', answer.content)),
    )


def test_the_app_serves_triage_through_the_shortcut(app):
    assert isinstance(app.router.middleware_stack, TriageShortcut)


CASES: dict[str, tuple[Any, dict[str, str], str]] = {
    "rules 2, created": (response_v2(patient="p1"), {}, ""),
    "rules 1, created": (response(patient="p1"), {}, ""),
    "return=minimal": (response_v2(patient="p1"), {"Prefer": "return=minimal"}, ""),
    "return=OperationOutcome": (response_v2(patient="p1"), {"Prefer": "return=OperationOutcome"}, ""),
    "not JSON": (b"{not json", {}, ""),
    "schema-invalid": ({**response_v2(patient="p1"), "authored": 20261125}, {}, ""),
    "Questionnaire rules broken": ({**response_v2(patient="p1"), "item": [{"linkId": "nope"}]}, {}, ""),
    "unknown parameter": (response_v2(patient="p1"), {}, "?foo=bar"),
    "bad If-None-Exist": (response_v2(patient="p1"), {"If-None-Exist": "name=x"}, ""),
}


@pytest.mark.parametrize("case", CASES)
def test_the_shortcut_answers_as_the_route(client, case):
    data, headers, query = CASES[case]
    body = data if isinstance(data, bytes) else orjson.dumps(data)
    via_shortcut = _shape(_send(client, body, headers, query, through_route=False))
    via_route = _shape(_send(client, body, headers, query, through_route=True))
    assert via_shortcut == via_route


def test_a_replay_and_a_conflict_answer_alike_both_ways(client):
    first = response_v2(patient="p1", identifier={"system": "urn:test", "value": "shortcut-1"})
    body = orjson.dumps(first)
    created = _send(client, body, {}, "", through_route=False)
    assert created.status_code == 201
    replays = [_send(client, body, {}, "", through_route=way) for way in (False, True)]
    assert [r.status_code for r in replays] == [200, 200]
    assert replays[0].content == replays[1].content
    assert replays[0].content == created.content  # the CarePlan as stored, to its members' order
    other = orjson.dumps({**first, "authored": "2026-11-21T10:00:00Z"})
    conflicts = [_send(client, other, {}, "", through_route=way) for way in (False, True)]
    assert [r.status_code for r in conflicts] == [409, 409]
    assert conflicts[0].content == conflicts[1].content
