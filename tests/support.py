"""Builders and checkers shared by the tests."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import Any

from app.fhir.canonical import ANSWERS_CODESYSTEM_URL, QUESTIONNAIRE_URL
from app.fhir.questionnaire import questionnaire_index
from app.rules import triage
from app.rules.rulesets import RULES_V1
from app.services import services

# The tests written for rules 1 run against Questionnaire 1.0.0; rules 2 has its own builders
# in tests/support_v2.py.
QUESTIONNAIRE_V1 = f"{QUESTIONNAIRE_URL}|1.0.0"


def items():
    return questionnaire_index("1.0.0").items


def triage_v1(answers: dict[str, Any]):
    return triage(answers, RULES_V1)


DATA = Path(__file__).parent / "data"

WARNING_SIGNS = [
    s.link_id for s in items().values() if s.group == "warning-signs" and s.link_id != "leg-weakness-worsening"
]

# A healthy adult with acute, back-only pain and every warning sign answered "no".
BASELINE: dict[str, Any] = {
    "age": 40,
    "pain-intensity": 4,
    "pain-duration": "lt-6w",
    "pain-new-or-worse": False,
    "pain-intolerable": False,
    "pain-radiation": "back-only",
    "injury": False,
    **{sign: False for sign in WARNING_SIGNS},
}


def typed_answer(kind: str, value: Any) -> dict[str, Any]:
    """The FHIR answer element for a value of a Questionnaire item type (either version)."""
    if kind == "boolean":
        return {"valueBoolean": value}
    if kind == "integer":
        return {"valueInteger": value}
    if kind == "decimal":
        return {"valueDecimal": value}
    return {"valueCoding": {"system": ANSWERS_CODESYSTEM_URL, "code": value}}


def answer(link_id: str, value: Any) -> dict[str, Any]:
    return typed_answer(items()[link_id].type, value)


def answers_with(**overrides: Any) -> dict[str, Any]:
    """BASELINE answers with overrides; keyword names use _ for -, None removes an answer."""
    answers = dict(BASELINE)
    for key, value in overrides.items():
        link_id = key.replace("_", "-")
        if value is None:
            answers.pop(link_id, None)
        else:
            answers[link_id] = value
    if answers.get("leg-weakness") is True:
        answers.setdefault("leg-weakness-worsening", False)
    return answers


def response(
    answers: dict[str, Any] | None = None, *, nested: bool = False, patient: str = "p1", **fields: Any
) -> dict[str, Any]:
    """A QuestionnaireResponse to Questionnaire 1.0.0, flat at the root or nested in groups."""
    return build_response(
        BASELINE if answers is None else answers,
        items(),
        QUESTIONNAIRE_V1,
        "2026-11-20T10:00:00Z",
        nested=nested,
        patient=patient,
        **fields,
    )


def build_response(
    answers: dict[str, Any],
    specs: dict[str, Any],
    usual_questionnaire: str,
    usual_authored: str,
    *,
    nested: bool,
    patient: str,
    **fields: Any,
) -> dict[str, Any]:
    """A QuestionnaireResponse carrying the answers (typed by the Questionnaire's item specs),
    flat at the root or nested in their groups; `fields` override the resource's elements (the
    usual canonical and authored time included: no parameter here is named like one)."""
    flat: list[dict[str, Any]] = [{"linkId": k, "answer": [typed_answer(specs[k].type, v)]} for k, v in answers.items()]
    if nested:
        by_group: dict[str, list[dict[str, Any]]] = {}
        for item in flat:
            by_group.setdefault(specs[item["linkId"]].group, []).append(item)
        item_list = [{"linkId": g, "item": children} for g, children in by_group.items()]
    else:
        item_list = flat
    qr: dict[str, Any] = {
        "resourceType": "QuestionnaireResponse",
        "status": "completed",
        "questionnaire": usual_questionnaire,
        "subject": {"reference": f"Patient/{patient}"},
        "authored": usual_authored,
        "item": item_list,
    }
    qr.update(fields)
    return qr


# --- checks every emitted resource must pass ----------------------------------------


@cache
def _schema() -> dict[str, Any]:
    return json.loads((DATA / "fhir-r4.schema.json").read_text())


@cache
def _validator(resource_type: str) -> Any:
    from jsonschema import Draft6Validator

    schema = _schema()
    return Draft6Validator({"$ref": f"#/definitions/{resource_type}", "definitions": schema["definitions"]})


def schema_errors(resource: dict[str, Any]) -> list[str]:
    validator = _validator(resource["resourceType"])
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(resource)]


def assert_valid_r4(resource: dict[str, Any]) -> None:
    """Valid against HL7's R4 JSON Schema and parsed by the SMART fhirclient R4 models."""
    errors = schema_errors(resource)
    assert not errors, errors[:5]
    import fhirclient.models.fhirelementfactory as factory

    parsed = factory.FHIRElementFactory.instantiate(resource["resourceType"], resource)
    assert parsed.as_json()["resourceType"] == resource["resourceType"]


def activity_codes(careplan: dict[str, Any]) -> list[str]:
    return [a["detail"]["code"]["coding"][0]["code"] for a in careplan["activity"]]


def activity(careplan: dict[str, Any], code: str) -> dict[str, Any]:
    for a in careplan["activity"]:
        if a["detail"]["code"]["coding"][0]["code"] == code:
            return a["detail"]
    raise AssertionError(f"no activity {code}")


# --- the HTTP API ----------------------------------------------------------------------

FHIR_JSON = "application/fhir+json"
TRIAGE = "/fhir/QuestionnaireResponse/$triage"


def post_triage(client, body, **headers):
    import orjson

    data = body if isinstance(body, (bytes, str)) else orjson.dumps(body)
    return client.post(TRIAGE, content=data, headers={"Content-Type": FHIR_JSON, **headers})


def stored_encounters(app) -> int:
    from sqlalchemy import func, select

    from app.store.tables import TriageEncounter

    with services(app).engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(TriageEncounter)).scalar_one()


def assert_fhir_response(response, status: int, resource_type: str) -> dict:
    assert response.status_code == status, response.text[:500]
    assert response.headers["content-type"].startswith(FHIR_JSON)
    body = response.json()
    assert body["resourceType"] == resource_type
    assert_valid_r4(body)
    return body


def store_row(app, row: dict[str, Any]) -> None:
    """Store a prepared triage row as it is (a test's hand-made or altered triage), bypassing the
    use-case: for what no submission can produce yet (a rules-v2 disposition, a hostile text)."""
    from sqlalchemy import insert

    from app.store.tables import TriageEncounter

    with services(app).engine.begin() as conn:
        conn.execute(insert(TriageEncounter.__table__), row)


# --- a real server ------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def live(application: Any) -> Iterator[str]:
    """The application, lifespan included, served by uvicorn on loopback."""
    import uvicorn

    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(application, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
