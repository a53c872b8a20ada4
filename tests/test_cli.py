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


def test_score_ndjson_blank_line_answers_its_own_line(tmp_path):
    """Line N of the output answers line N of the input, also when a line is blank."""
    good = orjson.dumps(response(answers_with()))
    urgent = orjson.dumps(response(answers_with(pain_intolerable=True)))
    path = tmp_path / "gaps.ndjson"
    path.write_bytes(good + b"\n\n" + urgent + b"\n   \n" + good + b"\n")
    done = run("score", str(path), "--format", "ndjson")
    assert done.returncode == 1
    results = [json.loads(line) for line in done.stdout.splitlines()]
    assert [r["resourceType"] for r in results] == [
        "CarePlan",
        "OperationOutcome",
        "CarePlan",
        "OperationOutcome",
        "CarePlan",
    ]
    assert results[2]["category"][0]["coding"][0]["code"] == "urgent"
    for index in (1, 3):
        assert_valid_r4(results[index])
        assert results[index]["issue"][0]["diagnostics"] == f"Line {index + 1}: The line is empty."
    assert b"3 triaged, 2 rejected" in done.stderr


def test_score_ndjson_detected_although_the_second_line_is_blank(tmp_path):
    good = orjson.dumps(response(answers_with()))
    path = tmp_path / "gap.ndjson"
    path.write_bytes(good + b"\n\n" + good + b"\n")
    done = run("score", str(path))
    assert [json.loads(line)["resourceType"] for line in done.stdout.splitlines()] == [
        "CarePlan",
        "OperationOutcome",
        "CarePlan",
    ]


def test_score_unwritable_output_is_one_clear_line(tmp_path):
    example = tmp_path / "qr.json"
    example.write_text(json.dumps(response(answers_with())))
    done = run("score", str(example), "-o", str(tmp_path / "no-such-dir" / "out.json"))
    assert done.returncode == 2
    assert done.stderr.decode().strip().splitlines() == [
        f"lbp-triage: cannot write {tmp_path / 'no-such-dir' / 'out.json'}: No such file or directory"
    ]
    assert done.stdout == b""


def test_score_rejected_file_with_output_file_says_why_on_stderr(tmp_path):
    path = tmp_path / "qr.json"
    path.write_text(json.dumps(response(answers_with(fever=None))))
    out = tmp_path / "out.json"
    done = run("score", str(path), "-o", str(out))
    assert done.returncode == 1
    assert json.loads(out.read_bytes())["resourceType"] == "OperationOutcome"
    text = done.stderr.decode()
    assert "rejected" in text and "fever" in text  # the fault is named where the user looks


def _script(name, *args, cwd, stdin=b""):
    root = __import__("pathlib").Path(__file__).resolve().parents[1]
    return subprocess.run([str(root / "scripts" / name), *args], cwd=cwd, input=stdin, capture_output=True)


def test_score_script_resolves_paths_against_the_callers_directory(tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "qr.json").write_text(json.dumps(response(answers_with(saddle_numbness=True))))
    done = _script("score", "in/qr.json", "-o", "careplan.json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    careplan = json.loads((tmp_path / "careplan.json").read_bytes())
    assert careplan["category"][0]["coding"][0]["code"] == "emergency"
    piped = _script("score", "-", cwd=tmp_path)  # stdin still works (empty input: rejected, not a crash)
    assert piped.returncode == 1 and b"Traceback" not in piped.stderr


def _serve_answers(tmp_path, args, env_extra):
    """./scripts/serve started from tmp_path answers /healthz on the chosen port; its SQLite
    file is made in that directory."""
    import os
    import socket
    import time
    from pathlib import Path

    import httpx

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    root = Path(__file__).resolve().parents[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("LBP_")} | {
        "LBP_SECRET_KEY": os.environ.get("LBP_SECRET_KEY", ""),
        **env_extra(port),
    }
    server = subprocess.Popen(
        [str(root / "scripts" / "serve"), *args(port)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        for _ in range(300):
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.05)
        else:
            raise AssertionError(server.stderr.read1() if server.poll() is not None else "no answer")
        assert (tmp_path / "lbp-triage.db").exists()
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_serve_script_takes_a_port_option(tmp_path):
    _serve_answers(tmp_path, lambda port: ["--port", str(port)], lambda port: {})


def test_serve_script_takes_the_port_from_the_environment(tmp_path):
    _serve_answers(tmp_path, lambda port: [], lambda port: {"LBP_PORT": str(port)})


def test_score_holds_responses_to_the_same_fhir_rules_as_the_api():
    body = orjson.dumps(response(answers_with(bladder_bowel_control=True)))
    marker = b'"linkId":"bladder-bowel-control","answer":[{"valueBoolean":true'
    duplicated = body.replace(marker, marker + b',"valueBoolean":false')
    done = run("score", "-", stdin=duplicated)
    assert done.returncode == 1 and "duplicate" in json.loads(done.stdout)["issue"][0]["diagnostics"]
    done = run("score", "-", stdin=orjson.dumps(response(authored=20261125)))
    assert done.returncode == 1
    assert json.loads(done.stdout)["issue"][0]["expression"] == ["QuestionnaireResponse.authored"]


def test_worker_logs_in_the_service_format_with_its_fields(tmp_path):
    """The worker logged through logging.basicConfig, which drops every `extra=` field (a failed
    delivery said nothing of its subscription, status or error): it logs as the API does."""
    import os
    import time

    env = {k: v for k, v in os.environ.items() if not k.startswith("LBP_")} | {
        "LBP_DATABASE_URL": f"sqlite:///{tmp_path / 'w.db'}",
        "LBP_LOG_FORMAT": "json",
    }
    assert (
        subprocess.run(
            [sys.executable, "-m", "app.cli", "migrate"], env=env, cwd=tmp_path, capture_output=True
        ).returncode
        == 0
    )
    worker = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "worker"],
        env=env,
        cwd=tmp_path,
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
    )
    try:
        deadline, started = time.monotonic() + 30, None
        while started is None and time.monotonic() < deadline:
            line = worker.stderr.readline()
            if b"webhook dispatcher started" in line:
                started = json.loads(line)
    finally:
        worker.terminate()
        worker.wait(timeout=30)
    assert started is not None and started["level"] == "info" and started["owner"]  # the extra field
