"""No PHI in logs: a real server process is driven through every endpoint — successes and
errors — with planted patient data and tokens, and its whole output is searched for them."""

import json
import os
import socket
import subprocess
import sys
import time

import httpx

from tests.support import TRIAGE, answers_with, response

NAME, MRN, TOKEN, NOTE = "Zebedee Quixotic", "MRN-9384756", "tok-SECRET-4417", "lives at 12 Harbour Lane"
PLANTED = (NAME, "Zebedee", "Quixotic", MRN, TOKEN, NOTE, "Harbour", "SECRET")


def _port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_planted_phi_never_reaches_the_logs(tmp_path):
    port = _port()
    env = {
        **os.environ,
        "LBP_DATABASE_URL": f"sqlite:///{tmp_path / 'phi.db'}",
        "LBP_AUTH_MODE": "static",
        "LBP_AUTH_TOKENS": json.dumps({TOKEN: ["system/*.*"]}),
        "LBP_LOG_LEVEL": "DEBUG",
        "LBP_WEBHOOK_ALLOWED_HOSTS": "127.0.0.1",
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "app.main:app", "--port", str(port), "--log-level", "debug"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    auth = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/fhir+json"}
    try:
        for _ in range(100):
            try:
                httpx.get(f"{base}/healthz")
                break
            except httpx.TransportError:
                time.sleep(0.1)
        qr = response(answers_with(saddle_numbness=True), patient="zq", identifier={"system": "urn:mrn", "value": MRN})
        qr["subject"]["display"] = NAME
        qr["item"][0]["text"] = NOTE
        with httpx.Client(base_url=base, headers=auth) as http:
            made = http.post(TRIAGE, json=qr).json()
            http.post(TRIAGE, json=qr)  # idempotent resubmission
            bad = response(answers_with(fever=None))
            bad["subject"]["display"] = NAME
            http.post(TRIAGE, json=bad)  # 422
            http.post(TRIAGE, content=f'{{"resourceType": "{NAME}"'.encode())  # 400 malformed
            http.post(TRIAGE, content=json.dumps(qr).encode(), headers={"Content-Type": "text/plain"})  # 415
            http.get(f"/fhir/CarePlan/{made['id']}")
            http.get(made["encounter"]["reference"].join(["/fhir/", ""]))
            http.get(f"/fhir/QuestionnaireResponse?subject=Patient/zq&name={NAME}")
            http.get(f"/fhir/CarePlan?date={NAME}")  # 400
            http.get(f"/fhir/CarePlan/{MRN}")  # 404
            http.get(f"/fhir/Encounter?patient=zq&_count=x{MRN}")
            http.post(
                "/fhir/Subscription",
                json={"resourceType": "Subscription", "reason": NAME, "criteria": NOTE, "status": "requested"},
            )
            http.get("/fhir/Subscription")
            http.get("/fhir/AuditEvent")
            http.delete(f"/fhir/CarePlan/{MRN}")  # 405
            http.get("/fhir/metadata")
        httpx.get(f"{base}/fhir/CarePlan", headers={"Authorization": f"Bearer {TOKEN}x{NAME}"})  # 401
        httpx.get(f"{base}/fhir/CarePlan?subject={NAME}")  # 401, no token
        httpx.get(f"{base}/metrics")
    finally:
        server.terminate()
        output = server.communicate(timeout=20)[0].decode()
    assert '"event": "request"' in output and "lbp-triage started" in output  # the logs are there
    leaked = [p for p in PLANTED if p in output]
    assert not leaked, f"planted data in the logs: {leaked}"
    for line in output.splitlines():
        if line.startswith("{"):
            json.loads(line)  # structured JSON, line by line
