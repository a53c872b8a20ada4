"""The rules as FHIR knowledge artifacts (PlanDefinition, ActivityDefinition, Library), generated from
the rules tables, and PlanDefinition/$apply: the CarePlan of $triage, stored only when asked."""

import base64
import html

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.conformance.knowledge import MEDICINE_TABLES, activity_summaries, dispositions
from app.fhir.canonical import PLANDEFINITION_URL
from app.rules import triage
from app.rules.rulesets import RULESETS
from tests.strategies import valid_answers
from tests.strategies_v2 import valid_answers_v2
from tests.support import (
    FHIR_JSON,
    activity_codes,
    assert_fhir_response,
    assert_valid_r4,
    post_triage,
    response,
    stored_encounters,
)
from tests.support_v2 import answers_v2, response_v2

VERSIONS = ("1.0.0", "2.0.0")
APPLY = "/fhir/PlanDefinition/lbp-triage-rules-{}/$apply"


def apply_body(qr, subject="Patient/p1", name="data", **extra):
    parameters = [{"name": "subject", "valueString": subject}, {"name": name, "resource": qr}]
    for key, value in extra.items():
        parameters.append({"name": key, **value})
    return {"resourceType": "Parameters", "parameter": parameters}


def post(client, path, body):
    return client.post(path, json=body, headers={"Content-Type": FHIR_JSON})


def _markdown(library):
    return base64.b64decode(library["content"][0]["data"]).decode()


# --- the artifacts -------------------------------------------------------------------------


@pytest.mark.parametrize("version", VERSIONS)
def test_every_rules_table_row_is_stated_in_the_library(client, version):
    library = assert_fhir_response(client.get(f"/fhir/Library/lbp-triage-rules-{version}"), 200, "Library")
    assert_valid_r4(library)
    text, div = _markdown(library), library["text"]["div"]
    rules = RULESETS[version]
    lines = text.splitlines()
    for row in rules.findings:
        line = next((line for line in lines if line.startswith(f"| {row.code} |")), None)
        assert line is not None, row.code
        # tier, condition in words and source, each in the row's own line (| escaped in markdown)
        for cell in (row.tier.name, row.fires_when.words(), row.source, *((row.sign and [row.sign]) or [])):
            assert cell.replace("|", "\\|") in line, (row.code, cell)
        assert all(cell in html.unescape(div) for cell in (row.code, row.fires_when.words(), row.source))
    for tier in {row.tier for row in rules.findings}:
        assert f"| {tier.name} | {tier.disposition.code} |" in text
    assert "most urgent tier" in text and "self-care" in text
    for row in rules.activities:
        assert any(line.startswith(f"| {row.row} |") for line in lines), row.row
    for decision, table in MEDICINE_TABLES.get(version, ()):
        for reason, _ in table:
            assert f"| {decision} | {reason} |" in text


@pytest.mark.parametrize("version", VERSIONS)
def test_the_canonical_each_careplan_names_resolves_by_url_version_and_id(client, version):
    qr = response(patient="p1") if version == "1.0.0" else response_v2(patient="p1")
    careplan = post_triage(client, qr).json()
    canonical = careplan["instantiatesCanonical"][0]
    assert canonical == f"{PLANDEFINITION_URL}|{version}"
    url, _, named = canonical.partition("|")
    for params in ({"url": canonical}, {"url": url, "version": named}):
        bundle = assert_fhir_response(client.get("/fhir/PlanDefinition", params=params), 200, "Bundle")
        assert [e["resource"]["id"] for e in bundle["entry"]] == [f"lbp-triage-rules-{version}"]
    plan = assert_fhir_response(client.get(f"/fhir/PlanDefinition/lbp-triage-rules-{version}"), 200, "PlanDefinition")
    assert_valid_r4(plan)
    assert (plan["url"], plan["version"]) == (url, version)
    # every activity of the CarePlan has its ActivityDefinition, named by the PlanDefinition's actions
    defined = {a["code"][0]["coding"][0]["code"]: a["definitionCanonical"] for a in plan["action"]}
    for code in activity_codes(careplan):
        ad_url, _, ad_version = defined[code].partition("|")
        bundle = client.get("/fhir/ActivityDefinition", params={"url": ad_url, "version": ad_version}).json()
        assert [e["resource"]["id"] for e in bundle["entry"]] == [f"{code}-{version}"]
    library = client.get("/fhir/Library", params={"url": plan["library"][0]}).json()
    assert [e["resource"]["id"] for e in library["entry"]] == [f"lbp-triage-rules-{version}"]


@pytest.mark.parametrize("version", VERSIONS)
def test_one_activity_definition_per_activity_code_with_its_text_kind_and_priority(client, version):
    bundle = client.get("/fhir/ActivityDefinition", params={"version": version, "_count": "100"}).json()
    found = {e["resource"]["code"]["coding"][0]["code"]: e["resource"] for e in bundle["entry"]}
    summaries = activity_summaries(version)
    assert sorted(found) == sorted(code for s in summaries for code in s.codes)
    for summary in summaries:
        for code in summary.codes:
            resource = found[code]
            assert_valid_r4(resource)
            assert resource["description"] == summary.texts[code]
            priorities = {p for ps in summary.priorities.values() for p in ps}
            assert resource.get("kind") == ("ServiceRequest" if priorities else None)
            assert resource.get("priority") == (next(iter(priorities)) if len(priorities) == 1 else None)
    assert found["referral-emergency"]["priority"] == "stat"


def test_fhirclient_parses_every_artifact(client):
    from fhirclient.models.activitydefinition import ActivityDefinition
    from fhirclient.models.library import Library
    from fhirclient.models.plandefinition import PlanDefinition

    for rtype, model in (
        ("PlanDefinition", PlanDefinition),
        ("ActivityDefinition", ActivityDefinition),
        ("Library", Library),
    ):
        bundle = client.get(f"/fhir/{rtype}", params={"_count": "100"}).json()
        assert bundle["total"] >= 2
        for entry in bundle["entry"]:
            assert_valid_r4(entry["resource"])
            parsed = model(entry["resource"])  # strict: raises on anything it does not know
            assert parsed.url and parsed.version in VERSIONS


def test_an_unknown_artifact_is_a_404_outcome(client):
    for path in (
        "/fhir/PlanDefinition/lbp-triage-rules-9.9.9",
        "/fhir/ActivityDefinition/nothing",
        "/fhir/Library/nothing",
    ):
        assert_fhir_response(client.get(path), 404, "OperationOutcome")
    assert client.get("/fhir/PlanDefinition", params={"colour": "red"}).status_code == 400
    # the canonical's last segment is no id: the answer names the ids of each version
    got = assert_fhir_response(client.get("/fhir/PlanDefinition/lbp-triage-rules"), 404, "OperationOutcome")
    assert "lbp-triage-rules-2.0.0" in got["issue"][0]["diagnostics"]


def _included(result, summary):
    return any(code in summary.codes for code in (a.code for a in result.activities))


@settings(max_examples=150, deadline=None)
@given(st.one_of(valid_answers().map(lambda a: ("1.0.0", a)), valid_answers_v2().map(lambda a: ("2.0.0", a))))
def test_what_the_library_says_of_each_activity_row_holds_in_the_engine(case):
    """'always' and 'never' in the Library are read from probing the rows: the engine agrees."""
    version, answers = case
    result = triage(answers, version)
    assert result.disposition in dispositions(RULESETS[version])
    for summary in activity_summaries(version):
        said = summary.inclusion[result.disposition]
        if said == "always":
            assert _included(result, summary), (summary.row, result.disposition)
        elif said == "never":
            assert not _included(result, summary), (summary.row, result.disposition)
    for activity in result.activities:
        summary = next(s for s in activity_summaries(version) if activity.code in s.codes)
        if activity.priority is not None:
            assert activity.priority.value in summary.priorities[result.disposition]
        if activity.hold_reason:
            assert activity.hold_reason in summary.hold_reasons


# --- $apply ----------------------------------------------------------------------------------

_STORED_ONLY = ("id", "meta", "created", "period", "encounter")  # ids, times, stored references


def _comparable(careplan):
    """A CarePlan without ids, times and references to stored resources."""
    kept = {k: v for k, v in careplan.items() if k not in _STORED_ONLY}
    info = [i for i in kept.pop("supportingInfo", []) if "QuestionnaireResponse" not in str(i)]
    if info:
        kept["supportingInfo"] = info
    if "contained" in kept:  # the STarT Back Observations: effective when made, derived from the stored response
        kept["contained"] = [
            {k: v for k, v in obs.items() if k not in ("effectiveDateTime", "derivedFrom")} for obs in kept["contained"]
        ]
    return kept


@pytest.mark.parametrize("version", VERSIONS)
def test_apply_answers_the_careplan_of_triage_and_stores_nothing(app, client, version):
    qr = response(patient="p1") if version == "1.0.0" else response_v2(patient="p1")
    before = stored_encounters(app)
    applied = assert_fhir_response(post(client, APPLY.format(version), apply_body(qr)), 200, "CarePlan")
    assert_valid_r4(applied)
    assert "id" not in applied and "Location" not in post(client, APPLY.format(version), apply_body(qr)).headers
    assert stored_encounters(app) == before
    triaged = post_triage(client, qr).json()
    assert _comparable(applied) == _comparable(triaged)
    # the type level, by url (and version), and the parameter named as $triage names it
    by_url = post(
        client,
        "/fhir/PlanDefinition/$apply",
        apply_body(qr, name="response", url={"valueUri": PLANDEFINITION_URL}, version={"valueString": version}),
    )
    assert _comparable(assert_fhir_response(by_url, 200, "CarePlan")) == _comparable(triaged)


def test_apply_with_persist_stores_as_triage_does(app, client):
    qr = response_v2(patient="p1", identifier={"system": "urn:test", "value": "apply-1"})
    before = stored_encounters(app)
    body = apply_body(qr, persist={"valueBoolean": True})
    stored = post(client, APPLY.format("2.0.0"), body)
    careplan = assert_fhir_response(stored, 201, "CarePlan")
    assert stored.headers["Location"] == f"/fhir/CarePlan/{careplan['id']}"
    assert stored_encounters(app) == before + 1
    assert client.get(stored.headers["Location"]).json()["id"] == careplan["id"]
    # the same identifier again is a replay, as with $triage
    assert post(client, APPLY.format("2.0.0"), body).status_code == 200
    assert post_triage(client, qr).status_code == 200
    assert stored_encounters(app) == before + 1


def test_apply_with_persist_honours_if_none_exist_as_triage_does(app, client):
    """persist=true creates as $triage does, so a conditional create is one too: stored only if
    nothing matches, the match answered only for the same response, anything else 409."""
    qr = response_v2(patient="p1", identifier={"system": "urn:test", "value": "apply-c"})
    first = assert_fhir_response(post_triage(client, qr), 201, "CarePlan")
    before = stored_encounters(app)

    def apply(body, condition):
        return client.post(
            APPLY.format("2.0.0"), json=body, headers={"Content-Type": FHIR_JSON, "If-None-Exist": condition}
        )

    same = apply(apply_body(qr, persist={"valueBoolean": True}), "identifier=urn:test|apply-c")
    assert assert_fhir_response(same, 200, "CarePlan")["id"] == first["id"]
    other = response_v2(patient="p1")  # no identifier of its own: another response under that condition
    conflict = apply(apply_body(other, persist={"valueBoolean": True}), "identifier=urn:test|apply-c")
    assert_fhir_response(conflict, 409, "OperationOutcome")
    bad = apply(apply_body(other, persist={"valueBoolean": True}), "status=completed")
    assert_fhir_response(bad, 400, "OperationOutcome")
    assert stored_encounters(app) == before
    fresh = apply(apply_body(other, persist={"valueBoolean": True}), "identifier=urn:test|nothing-like-it")
    assert_fhir_response(fresh, 201, "CarePlan")
    assert stored_encounters(app) == before + 1


def test_apply_to_the_other_rules_version_is_a_422_saying_so(client):
    got = post(client, APPLY.format("2.0.0"), apply_body(response(patient="p1")))
    outcome = assert_fhir_response(got, 422, "OperationOutcome")
    assert "lbp-triage-rules-1.0.0" in outcome["issue"][0]["diagnostics"]
    got = post(
        client,
        "/fhir/PlanDefinition/$apply",
        apply_body(response_v2(patient="p1"), url={"valueUri": f"{PLANDEFINITION_URL}|1.0.0"}),
    )
    assert_fhir_response(got, 422, "OperationOutcome")


def test_apply_validates_as_triage_does(app, client):
    before = stored_encounters(app)
    # a warning sign left unanswered: 422 from both, with the same faults
    missing = response_v2({k: v for k, v in answers_v2().items() if k != "saddle-numbness"}, patient="p1")
    applied = post(client, APPLY.format("2.0.0"), apply_body(missing))
    triaged = post_triage(client, missing)
    assert applied.status_code == triaged.status_code == 422
    assert applied.json()["issue"] == triaged.json()["issue"]
    # invalid FHIR inside the Parameters: 400
    broken = dict(response_v2(patient="p1"), status="done")
    assert_fhir_response(post(client, APPLY.format("2.0.0"), apply_body(broken)), 400, "OperationOutcome")
    assert stored_encounters(app) == before


@pytest.mark.parametrize(
    "body, status",
    [
        ({"resourceType": "Parameters", "parameter": [{"name": "subject", "valueString": "Patient/p1"}]}, 400),
        (apply_body(response_v2(patient="p1"), subject="Patient/p2"), 422),
        (apply_body(response_v2(patient="p1"), colour={"valueString": "red"}), 400),
        (apply_body(response_v2(patient="p1"), persist={"valueString": "yes"}), 400),
        ({"resourceType": "Parameters", "parameter": [{"name": "data", "resource": response_v2(patient="p1")}]}, 400),
        (response_v2(patient="p1"), 400),  # not a Parameters
    ],
)
def test_apply_refuses_what_it_does_not_take(client, body, status):
    assert_fhir_response(post(client, APPLY.format("2.0.0"), body), status, "OperationOutcome")


def test_apply_needs_a_plan_that_exists_and_post(client):
    body = apply_body(response_v2(patient="p1"))
    assert_fhir_response(post(client, "/fhir/PlanDefinition/nothing/$apply", body), 404, "OperationOutcome")
    assert_fhir_response(post(client, "/fhir/PlanDefinition/$apply", body), 400, "OperationOutcome")  # no url
    got = post(
        client,
        "/fhir/PlanDefinition/$apply",
        apply_body(response_v2(patient="p1"), url={"valueUri": "https://example.org/x"}),
    )
    assert_fhir_response(got, 404, "OperationOutcome")
    got = client.get(APPLY.format("2.0.0"))
    assert got.status_code == 405 and got.headers["Allow"] == "POST"


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=st.one_of(valid_answers().map(lambda a: ("1.0.0", a)), valid_answers_v2().map(lambda a: ("2.0.0", a))))
def test_apply_and_triage_give_equal_careplans(client, case):
    version, answers = case
    qr = response(answers, patient="p1") if version == "1.0.0" else response_v2(answers, patient="p1")
    applied = post(client, APPLY.format(version), apply_body(qr))
    triaged = post_triage(client, qr)
    assert (applied.status_code, triaged.status_code) == (200, 201), (applied.text[:300], triaged.text[:300])
    assert _comparable(applied.json()) == _comparable(triaged.json())


def test_the_swagger_examples_of_apply_answer_their_careplan(app, client):
    spec = client.get("/openapi.json").json()
    for path in ("/fhir/PlanDefinition/{plan_id}/$apply", "/fhir/PlanDefinition/$apply"):
        examples = spec["paths"][path]["post"]["requestBody"]["content"]["application/fhir+json"]["examples"]
        assert examples
        for name, example in examples.items():
            target = path.replace("{plan_id}", "lbp-triage-rules-2.0.0")
            got = post(client, target, example["value"])
            assert got.status_code == 200, (name, got.text[:300])
