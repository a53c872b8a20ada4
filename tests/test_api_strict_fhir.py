"""Only valid FHIR R4 gets in (issue 9, findings 3, 6 and 7), over HTTP on both engines.

What HL7's R4 JSON Schema rejects is a 400 OperationOutcome naming each path, never a 422
(that is for valid FHIR breaking the Questionnaire's rules), never a 500, and nothing is
stored. So are what FHIR's JSON rules forbid beyond the schema: duplicate keys, empty arrays
and objects, an unknown modifierExtension, and a narrative that breaks txt-1/txt-2.
"""

from __future__ import annotations

import copy

import orjson
import pytest

from app.services import services
from tests.support import (
    FHIR_JSON,
    answers_with,
    assert_fhir_response,
    post_triage,
    response,
    stored_encounters,
)
from tests.webhook_support import subscription_body

RECEIVER = "http://127.0.0.1:9/hook"
SENTINEL = "Zq7SecretValueXy"  # a value no OperationOutcome may quote back


def _item(qr: dict, link_id: str) -> dict:
    return next(i for i in qr["item"] if i["linkId"] == link_id)


def _expressions(outcome: dict) -> list[str]:
    return [e for issue in outcome["issue"] for e in issue.get("expression", ())]


def assert_rejected_400(r, *expressions: str) -> dict:
    outcome = assert_fhir_response(r, 400, "OperationOutcome")
    found = _expressions(outcome)
    for expression in expressions:
        assert expression in found, (expression, found)
    assert SENTINEL not in r.text
    return outcome


def _stored_subscriptions(app) -> int:
    from sqlalchemy import func, select

    from app.store.tables import WebhookSubscription

    with services(app).engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(WebhookSubscription)).scalar_one()


def _post_subscription(client, body):
    data = body if isinstance(body, bytes) else orjson.dumps(body)
    return client.post("/fhir/Subscription", content=data, headers={"Content-Type": FHIR_JSON})


def _parameters(qr: dict) -> dict:
    return {"resourceType": "Parameters", "parameter": [{"name": "response", "resource": qr}]}


# --- finding 3: what the R4 schema rejects is a 400 -----------------------------------------


def _authored_number(qr):
    qr["authored"] = 20261125


def _author_null(qr):
    qr["author"] = None


def _items_empty(qr):
    qr["item"] = []


def _boolean_as_string(qr):
    _item(qr, "bladder-bowel-control")["answer"] = [{"valueBoolean": "false"}]


def _date_in_wrong_format(qr):
    qr["authored"] = "25/11/2026"


def _bad_id(qr):
    qr["id"] = "not an id!"


def _uri_with_space(qr):
    qr["questionnaire"] = "https://lbp-triage.org/fhir/Questionnaire/ lbp"


def _empty_object(qr):
    qr["author"] = {}


def _unknown_element(qr):
    qr["authoredOn"] = "2026-11-20"


def _status_not_a_code(qr):
    qr["status"] = "done"


def _number_for_a_string(qr):
    _item(qr, "age")["linkId"] = 7


def _array_for_a_single(qr):
    qr["subject"] = [qr["subject"]]


MUTATIONS = {
    "authored-as-number": (_authored_number, "QuestionnaireResponse.authored"),
    "author-null": (_author_null, "QuestionnaireResponse.author"),
    "item-empty": (_items_empty, "QuestionnaireResponse.item"),
    "boolean-as-string": (_boolean_as_string, "QuestionnaireResponse.item[{i}].answer[0].valueBoolean"),
    "date-format": (_date_in_wrong_format, "QuestionnaireResponse.authored"),
    "bad-id": (_bad_id, "QuestionnaireResponse.id"),
    "uri-with-space": (_uri_with_space, "QuestionnaireResponse.questionnaire"),
    "empty-object": (_empty_object, "QuestionnaireResponse.author"),
    "unknown-element": (_unknown_element, "QuestionnaireResponse.authoredOn"),
    "status-not-a-code": (_status_not_a_code, "QuestionnaireResponse.status"),
    "number-for-string": (_number_for_a_string, "QuestionnaireResponse.item[{i}].linkId"),
    "array-for-single": (_array_for_a_single, "QuestionnaireResponse.subject"),
}


@pytest.mark.parametrize("name", MUTATIONS)
def test_what_the_r4_schema_rejects_is_400_with_its_path_and_nothing_stored(client, app, name):
    mutate, expression = MUTATIONS[name]
    qr = response(answers_with(bladder_bowel_control=True), patient=SENTINEL)
    index = [i["linkId"] for i in qr["item"]].index("bladder-bowel-control")
    index = [i["linkId"] for i in qr["item"]].index("age") if "linkId" in expression else index
    mutate(qr)
    assert_rejected_400(post_triage(client, qr), expression.format(i=index))
    # ...and the same inside a Parameters body, with the path through the Parameters
    assert_rejected_400(
        post_triage(client, _parameters(qr)),
        expression.format(i=index).replace("QuestionnaireResponse", "Parameters.parameter[0].resource", 1),
    )
    assert stored_encounters(app) == 0


def test_a_boolean_sent_as_a_string_is_400_not_422(client):
    qr = response(answers_with(bladder_bowel_control="false"))
    outcome = assert_fhir_response(post_triage(client, qr), 400, "OperationOutcome")
    assert all(issue["code"] != "business-rule" for issue in outcome["issue"])


def test_every_fault_is_listed(client):
    qr = response()
    qr["authored"] = 20261125
    qr["author"] = None
    _item(qr, "injury")["answer"] = [{"valueBoolean": "no"}]
    found = _expressions(assert_fhir_response(post_triage(client, qr), 400, "OperationOutcome"))
    assert {"QuestionnaireResponse.authored", "QuestionnaireResponse.author"} <= set(found)
    assert any(e.endswith("answer[0].valueBoolean") for e in found)


def test_what_is_stored_is_what_was_validated(client):
    qr = response(
        patient="exact",
        identifier={"system": "urn:x", "value": "stored-1"},
        text={
            "status": "generated",
            "div": '<div xmlns="http://www.w3.org/1999/xhtml"><p>Answers <b>sent</b></p></div>',
        },
    )
    qr["item"][0]["extension"] = [{"url": "https://example.org/x", "valueString": "kept"}]
    assert_fhir_response(post_triage(client, qr), 201, "CarePlan")
    bundle = client.get("/fhir/QuestionnaireResponse", params={"subject": "Patient/exact"}).json()
    stored = bundle["entry"][0]["resource"]
    sent = copy.deepcopy(qr)
    assert {k: v for k, v in stored.items() if k not in ("id", "meta")} == sent


# --- finding 6: duplicate keys -------------------------------------------------------------


def _duplicated_boolean_body() -> bytes:
    """bladder-bowel-control answered "yes" then "no" in one answer object."""
    body = orjson.dumps(response(answers_with(bladder_bowel_control=True)))
    marker = b'"linkId":"bladder-bowel-control","answer":[{"valueBoolean":true'
    assert marker in body
    return body.replace(marker, marker + b',"valueBoolean":false')


def test_duplicate_keys_are_400_and_nothing_is_stored(client, app):
    r = post_triage(client, _duplicated_boolean_body())
    outcome = assert_fhir_response(r, 400, "OperationOutcome")
    assert "duplicate" in outcome["issue"][0]["diagnostics"].lower()
    assert stored_encounters(app) == 0


@pytest.mark.parametrize(
    "body",
    [
        b'{"resourceType":"QuestionnaireResponse","status":"completed","status":"completed"}',
        b'{"resourceType":"Parameters","parameter":[{"name":"response","name":"response"}]}',
        b'{"resourceType":"Parameters","resourceType":"Parameters"}',
        b'{"resourceType": "QuestionnaireResponse", "a": {"x": 1}, "a" : 2}',
        b'{"resourceType":"QuestionnaireResponse","item":[{"linkId":"a\\"","linkId":"b"}]}',
    ],
)
def test_duplicate_keys_anywhere_are_400(client, body):
    assert_fhir_response(post_triage(client, body), 400, "OperationOutcome")


def test_keys_that_only_look_alike_are_not_duplicates(client):
    qr = response(patient="alike")
    qr["item"][0]["extension"] = [{"url": "https://example.org/k", "valueString": '"linkId": "x", "a":'}]
    assert post_triage(client, qr).status_code == 201


def test_duplicate_keys_in_a_subscription_or_resend_are_400(client, app):
    body = orjson.dumps(subscription_body(RECEIVER))
    duplicated = body.replace(b'"status":"requested"', b'"status":"requested","status":"off"')
    assert duplicated != body
    assert_fhir_response(_post_subscription(client, duplicated), 400, "OperationOutcome")
    assert _stored_subscriptions(app) == 0
    created = assert_fhir_response(_post_subscription(client, subscription_body(RECEIVER)), 201, "Subscription")
    resend = client.post(
        f"/fhir/Subscription/{created['id']}/$resend",
        content=b'{"resourceType":"Parameters","parameter":[{"name":"webhook-id",'
        b'"valueString":"a","valueString":"b"}]}',
        headers={"Content-Type": FHIR_JSON},
    )
    assert_fhir_response(resend, 400, "OperationOutcome")


# --- finding 7: modifierExtension, primitive extensions, narrative ------------------------

MODIFIER = [{"url": "https://example.org/fhir/StructureDefinition/not-really", "valueBoolean": True}]


def test_an_unknown_modifier_extension_is_400(client, app):
    qr = response()
    qr["modifierExtension"] = MODIFIER
    assert_rejected_400(post_triage(client, qr), "QuestionnaireResponse.modifierExtension")
    qr = response()
    _item(qr, "injury")["answer"][0]["modifierExtension"] = MODIFIER
    index = [i["linkId"] for i in qr["item"]].index("injury")
    assert_rejected_400(post_triage(client, qr), f"QuestionnaireResponse.item[{index}].answer[0].modifierExtension")
    assert stored_encounters(app) == 0


@pytest.mark.parametrize(
    "field,value",
    [
        ("_status", "false"),
        ("_status", []),
        ("_status", None),
        ("_status", {}),
        ("_authored", 1),
    ],
)
def test_a_primitive_extension_that_is_not_an_object_is_400_not_500(client, field, value):
    qr = response()
    qr[field] = value
    assert_rejected_400(post_triage(client, qr), f"QuestionnaireResponse.{field[1:]}")


def test_a_primitive_extension_on_an_answer_that_is_not_an_object_is_400(client):
    qr = response()
    _item(qr, "injury")["answer"][0]["_valueBoolean"] = "false"
    assert_fhir_response(post_triage(client, qr), 400, "OperationOutcome")


def test_a_primitive_extension_object_is_accepted(client):
    qr = response(patient="ext")
    qr["_status"] = {"extension": [{"url": "https://example.org/why", "valueString": "checked"}]}
    assert post_triage(client, qr).status_code == 201


@pytest.mark.parametrize(
    "field,value",
    [
        ("_status", "false"),
        ("_criteria", "x"),
        ("_end", 5),
        ("status", True),
        ("end", 20261125),
        ("reason", None),
        ("contact", []),
        ("error", {}),
    ],
)
def test_subscription_primitives_are_checked_as_the_schema_does(client, app, field, value):
    body = subscription_body(RECEIVER)
    body[field] = value
    assert_rejected_400(_post_subscription(client, body), f"Subscription.{field.lstrip('_')}")
    assert _stored_subscriptions(app) == 0


@pytest.mark.parametrize("where", ["root", "channel"])
def test_a_subscription_modifier_extension_is_400(client, app, where):
    body = subscription_body(RECEIVER)
    (body if where == "root" else body["channel"])["modifierExtension"] = MODIFIER
    path = "Subscription.modifierExtension" if where == "root" else "Subscription.channel.modifierExtension"
    assert_rejected_400(_post_subscription(client, body), path)
    body = subscription_body(RECEIVER)
    body["channel"]["_payload"] = "full-resource"
    assert_rejected_400(_post_subscription(client, body), "Subscription.channel.payload")
    assert _stored_subscriptions(app) == 0


XHTML = 'xmlns="http://www.w3.org/1999/xhtml"'
BAD_NARRATIVES = {
    "script": f"<div {XHTML}><script>alert(1)</script><p>x</p></div>",
    "event-attribute": f'<div {XHTML}><img src="x.png" onerror="alert(1)"/></div>',
    "javascript-url": f'<div {XHTML}><a href="javascript:alert(1)">x</a></div>',
    "javascript-url-obfuscated": f'<div {XHTML}><a href=" JaVa&#x09;script:alert(1)">x</a></div>',
    "iframe": f'<div {XHTML}><iframe src="https://example.org"></iframe></div>',
    "form": f"<div {XHTML}><form><p>x</p></form></div>",
    "no-namespace": "<div><p>x</p></div>",
    "root-not-div": f"<p {XHTML}>x</p>",
    "empty": f"<div {XHTML}>  </div>",
    "not-xml": f"<div {XHTML}><p>x</div>",
    "doctype": f'<!DOCTYPE div [<!ENTITY e "x">]><div {XHTML}>&e;</div>',
    "processing-instruction": f"<div {XHTML}><?php echo 1; ?><p>x</p></div>",
    "style-url": f'<div {XHTML}><p style="background:url(javascript:alert(1))">x</p></div>',
    "other-namespace": f'<div {XHTML}><svg xmlns="http://www.w3.org/2000/svg"><p>x</p></svg></div>',
}


@pytest.mark.parametrize("name", BAD_NARRATIVES)
def test_a_narrative_breaking_fhirs_xhtml_rules_is_400(client, app, name):
    qr = response()
    qr["text"] = {"status": "generated", "div": BAD_NARRATIVES[name]}
    assert_rejected_400(post_triage(client, qr), "QuestionnaireResponse.text.div")
    body = subscription_body(RECEIVER)
    body["text"] = {"status": "generated", "div": BAD_NARRATIVES[name]}
    assert_rejected_400(_post_subscription(client, body), "Subscription.text.div")
    assert stored_encounters(app) == 0 and _stored_subscriptions(app) == 0


def test_a_plain_narrative_is_accepted(client):
    qr = response(patient="narrative")
    qr["text"] = {
        "status": "generated",
        "div": f'<div {XHTML}><p>Pain <b>4</b>/10, <a href="#x">see</a>'
        f'</p><table><tr><td class="c">x</td></tr></table></div>',
    }
    assert post_triage(client, qr).status_code == 201


def _nested_extensions(levels: int) -> dict:
    qr = response(patient="deep")
    node = qr
    for _ in range(levels):
        node["extension"] = [{"url": "https://example.org/nested"}]
        node = node["extension"][0]
    node["valueString"] = "leaf"
    return qr


def test_the_depth_limit_is_enforced_by_the_same_walk(client):
    outcome = assert_fhir_response(post_triage(client, _nested_extensions(40)), 400, "OperationOutcome")
    assert "nested more than 64 levels" in outcome["issue"][0]["diagnostics"]
    assert post_triage(client, _nested_extensions(20)).status_code == 201


# Bodies the fast path's model alone would take but the R4 schema refuses: $triage skips the
# structure walk only for bodies the fast path vouches for, so these are still walked and refused.
def _empty_subject(qr):
    qr["subject"] = {}


def _far_offset(qr):
    qr["authored"] = "2026-11-20T10:00:00+15:00"


def _no_break_space(qr):
    qr["item"][0]["text"] = "About\u00a0you"


def _empty_coding(qr):
    qr["item"].append({"linkId": "extra", "answer": [{"valueCoding": {}}]})


@pytest.mark.parametrize(
    ("change", "expression"),
    [
        (_empty_subject, "QuestionnaireResponse.subject"),
        (_far_offset, "QuestionnaireResponse.authored"),
        (_no_break_space, "QuestionnaireResponse.item[0].text"),
        (_empty_coding, f"QuestionnaireResponse.item[{len(response(answers_with())['item'])}].answer[0].valueCoding"),
    ],
)
def test_what_the_fast_path_does_not_vouch_for_is_still_walked(client, app, change, expression):
    qr = response(answers_with())
    change(qr)
    before = stored_encounters(app)
    assert_rejected_400(post_triage(client, qr), expression)
    assert stored_encounters(app) == before
