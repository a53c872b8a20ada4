"""`lbp-triage explain FILE` and GET /fhir/CarePlan/{id}/$explain: each finding with the
answers that fired it and its rule row's source, so a clinician can check a decision."""

import json
import subprocess
import sys

from app.triage.explain import explain_response
from tests.support import answers_with, assert_fhir_response, assert_valid_r4, post_triage, response
from tests.support_v2 import answers_v2, response_v2, startback_answers


def parts(parameter):
    return {p["name"]: p for p in parameter["part"]}


def findings(parameters):
    return {parts(p)["code"]["valueCoding"]["code"]: p for p in parameters["parameter"] if p["name"] == "finding"}


def test_each_finding_with_its_answers_rule_and_source():
    explained = explain_response(
        response_v2(
            answers_v2(
                age=62,
                weight_loss=True,
                cancer_history=True,
                leg_numbness=True,
                pregnant=True,
                **startback_answers(agree=4),
            )
        )
    )
    assert_valid_r4(explained)
    top = {p["name"]: p for p in explained["parameter"]}
    assert top["rules"]["valueCanonical"].endswith("lbp-triage-rules|2.0.0")
    assert top["disposition"]["valueCoding"]["code"] == "emergency"
    found = findings(explained)
    cancer = found["cancer-neuro"]
    assert parts(cancer)["tier"]["valueCode"] == "E" and parts(cancer)["source"]["valueString"] == "NG234"
    assert "cancer-history = yes" in parts(cancer)["rule"]["valueString"]
    answers = [{a["name"]: a for a in p["part"]} for p in cancer["part"] if p["name"] == "answer"]
    assert {(a["linkId"]["valueString"], a["value"]["valueBoolean"]) for a in answers} == {
        ("cancer-history", True),
        ("leg-numbness", True),
    }
    assert answers[0]["question"]["valueString"] == "Have you ever had cancer?"
    assert parts(found["weight-loss-over-60"])["source"]["valueString"] == "NG12"
    assert top["startback"]["part"][0] == {"name": "total", "valueInteger": 4}
    nsaid = next(parts(p) for p in explained["parameter"] if p["name"] == "medicine")
    assert nsaid["decision"]["valueString"] == "not planned"  # an emergency plan holds no medicine


def test_a_choice_answer_is_explained_with_its_words_and_an_absent_one_as_not_answered():
    explained = explain_response(response_v2(answers_v2(age=55, pain_duration="gt-12w")))
    persistent = next(a for a in findings(explained)["persistent-pain"]["part"] if a["name"] == "answer")
    assert parts(persistent)["value"]["valueCoding"]["display"] == "More than 12 weeks"
    first = [parts(a) for a in findings(explained)["older-first-episode"]["part"] if a["name"] == "answer"]
    assert {"name": "value", "valueString": "not answered"} in [a["value"] for a in first]


def test_a_rules_1_response_is_explained_by_rules_1():
    explained = explain_response(response(answers_with(steroid_use=True, pain_new_or_worse=True)))
    assert explained["parameter"][0]["valueCanonical"].endswith("|1.0.0")
    assert parts(findings(explained)["malignancy-immune-risk"])["source"]["valueString"] == "§ When to contact us"


def test_cli_explain(tmp_path):
    path = tmp_path / "qr.json"
    path.write_text(json.dumps(response_v2(answers_v2(pain_at_rest=True))))
    done = subprocess.run([sys.executable, "-m", "app.cli", "explain", str(path)], capture_output=True)
    assert done.returncode == 0, done.stderr
    explained = json.loads(done.stdout)
    assert set(findings(explained)) == {"rest-pain"}
    bad = subprocess.run(
        [sys.executable, "-m", "app.cli", "explain", "-"],
        capture_output=True,
        input=json.dumps(response_v2(answers_v2(fever=None))).encode(),
    )
    assert bad.returncode == 1 and json.loads(bad.stdout)["resourceType"] == "OperationOutcome"


def test_http_explain_of_a_stored_careplan(client):
    careplan = assert_fhir_response(
        post_triage(client, response_v2(answers_v2(injury=True, injury_major=True))), 201, "CarePlan"
    )
    explained = assert_fhir_response(client.get(f"/fhir/CarePlan/{careplan['id']}/$explain"), 200, "Parameters")
    assert set(findings(explained)) == {"major-trauma", "injury"}
    assert parts(findings(explained)["major-trauma"])["source"]["valueString"].startswith("Downie")
    assert_fhir_response(client.get("/fhir/CarePlan/no-such-plan/$explain"), 404, "OperationOutcome")
    old = assert_fhir_response(post_triage(client, response(answers_with(pain_intolerable=True))), 201, "CarePlan")
    old_explained = client.get(f"/fhir/CarePlan/{old['id']}/$explain").json()
    assert set(findings(old_explained)) == {"intolerable-pain"}  # re-run with the rules stored with it


def test_http_explain_keeps_to_the_patient_compartment(app, database_url):
    from tests.conftest import _empty_tables
    from tests.test_security import STATIC_TOKENS, app_client, bearer, wait_for_audit

    _empty_tables(app)
    with app_client(database_url, auth_mode="static", auth_tokens=json.dumps(STATIC_TOKENS)) as static:
        theirs = post_triage(static, response_v2(patient="p2"), **bearer("tok-all")).json()
        mine = post_triage(static, response_v2(patient="p1"), **bearer("tok-all")).json()
        assert static.get(f"/fhir/CarePlan/{theirs['id']}/$explain", headers=bearer("tok-p1")).status_code == 404
        assert static.get(f"/fhir/CarePlan/{mine['id']}/$explain", headers=bearer("tok-p1")).status_code == 200
        assert static.get(f"/fhir/CarePlan/{mine['id']}/$explain", headers=bearer("tok-subs")).status_code == 403

        # audited as a read of the CarePlan, like GET /fhir/CarePlan/{id} (written after the answer)
        def names_it(bundle):
            return any(f"CarePlan/{mine['id']}" in json.dumps(e["resource"]) for e in bundle.get("entry", []))

        assert names_it(wait_for_audit(static, at_least=2, until=names_it, patient="p1"))


def test_http_explain_of_a_careplan_an_amendment_revoked(client):
    """A revoked plan is still a past decision a clinician may need to check: it is explained
    from the answers that made it, not from the amended ones."""
    ident = {"system": "urn:ehr", "value": "explain-amended"}
    first = assert_fhir_response(post_triage(client, response_v2(answers_v2(), identifier=ident)), 201, "CarePlan")
    amended = response_v2(answers_v2(injury=True, injury_major=True), identifier=ident, status="amended")
    second = assert_fhir_response(post_triage(client, amended), 201, "CarePlan")
    assert second["replaces"] == [{"reference": f"CarePlan/{first['id']}"}]
    old = assert_fhir_response(client.get(f"/fhir/CarePlan/{first['id']}/$explain"), 200, "Parameters")
    assert findings(old) == {}  # the self-care answers: no finding
    new = assert_fhir_response(client.get(f"/fhir/CarePlan/{second['id']}/$explain"), 200, "Parameters")
    assert set(findings(new)) == {"major-trauma", "injury"}
