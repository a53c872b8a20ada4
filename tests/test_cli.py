"""The `lbp-triage` command line, run as a user would run it."""

import json
import subprocess
import sys

import orjson

from tests.support import answers_with, assert_valid_r4, response


def run(*args, stdin=None):
    return subprocess.run([sys.executable, "-m", "app.cli", *args], input=stdin, capture_output=True)


def test_score_one_json_file(tmp_path):
    path = tmp_path / "qr.json"
    path.write_text(json.dumps(response(answers_with(saddle_numbness=True)), indent=2))
    done = run("score", str(path))
    assert done.returncode == 0, done.stderr
    careplan = json.loads(done.stdout)
    assert_valid_r4(careplan)
    assert careplan["category"][0]["coding"][0]["code"] == "emergency"


def test_score_from_stdin_rejects_with_an_operation_outcome():
    done = run("score", "-", stdin=json.dumps(response(answers_with(fever=None))).encode())
    assert done.returncode == 1
    outcome = json.loads(done.stdout)
    assert_valid_r4(outcome)
    assert outcome["issue"][0]["code"] == "required"


def test_score_malformed_json():
    done = run("score", "-", stdin=b"{not json")
    assert done.returncode == 1
    assert json.loads(done.stdout)["issue"][0]["code"] == "structure"


def test_score_ndjson_line_for_line(tmp_path):
    lines = [
        orjson.dumps(response(answers_with())),
        b"{broken",
        orjson.dumps(response(answers_with(pain_intolerable=True))),
        orjson.dumps(response(answers_with(age=500))),
    ]
    path = tmp_path / "many.ndjson"
    path.write_bytes(b"\n".join(lines) + b"\n")
    out = tmp_path / "out.ndjson"
    done = run("score", str(path), "-o", str(out), "--progress")
    assert done.returncode == 1
    results = [json.loads(line) for line in out.read_bytes().splitlines()]
    assert [r["resourceType"] for r in results] == ["CarePlan", "OperationOutcome", "CarePlan", "OperationOutcome"]
    assert results[2]["category"][0]["coding"][0]["code"] == "urgent"
    assert results[1]["issue"][0]["diagnostics"].startswith("Line 2:")
    assert results[3]["issue"][0]["diagnostics"].startswith("Line 4:")
    assert b"2 triaged, 2 rejected" in done.stderr
    assert b"triage" in done.stderr and b"%" in done.stderr  # the progress bar was drawn


def test_score_ndjson_all_good_exits_zero(tmp_path):
    path = tmp_path / "ok.ndjson"
    path.write_bytes(b"\n".join(orjson.dumps(response(answers_with(age=a))) for a in (20, 30, 40)))
    done = run("score", str(path))
    assert done.returncode == 0
    assert len(done.stdout.splitlines()) == 3


def test_questionnaire_and_codesystem_commands():
    q = json.loads(run("questionnaire").stdout)
    assert q["resourceType"] == "Questionnaire"
    cs = json.loads(run("codesystem", "lbp-triage").stdout)
    assert cs["resourceType"] == "CodeSystem"
    assert run("codesystem", "nope").returncode == 2


def test_missing_file_is_a_usage_error(tmp_path):
    done = run("score", str(tmp_path / "absent.json"))
    assert done.returncode == 2 and b"cannot read" in done.stderr


def test_score_holds_responses_to_the_same_fhir_rules_as_the_api():
    body = orjson.dumps(response(answers_with(bladder_bowel_control=True)))
    marker = b'"linkId":"bladder-bowel-control","answer":[{"valueBoolean":true'
    duplicated = body.replace(marker, marker + b',"valueBoolean":false')
    done = run("score", "-", stdin=duplicated)
    assert done.returncode == 1 and "duplicate" in json.loads(done.stdout)["issue"][0]["diagnostics"]
    done = run("score", "-", stdin=orjson.dumps(response(authored=20261125)))
    assert done.returncode == 1
    assert json.loads(done.stdout)["issue"][0]["expression"] == ["QuestionnaireResponse.authored"]
