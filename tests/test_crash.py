"""kill -9 of the server under load loses no acknowledged triage and leaves no half-written
one; the restarted server needs no manual repair (quality.md, Reliability)."""

import os
import signal
import socket
import subprocess
import sys
import threading
import time

import httpx

from tests.support import TRIAGE, response


def _port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(database_url, port, cwd):
    env = {
        **os.environ,
        "LBP_DATABASE_URL": database_url,
        "LBP_AUTO_MIGRATE": "true",
        "LBP_RATE_LIMIT_PER_MINUTE": "0",
        "LBP_LOG_LEVEL": "WARNING",
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "app.main:app", "--port", str(port)],
        env=env,
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    for _ in range(200):
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz").status_code == 200:
                return server
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    raise RuntimeError("server did not become ready")


def test_kill_9_under_load_loses_no_acknowledged_triage(database_url, tmp_path):
    port = _port()
    server = _start(database_url, port, tmp_path)
    base = f"http://127.0.0.1:{port}"
    acknowledged: dict[str, str] = {}  # identifier → CarePlan id, for every 201/200 received
    stop = threading.Event()
    run = os.urandom(4).hex()

    def load(worker: int):
        with httpx.Client(base_url=base, timeout=5) as http:
            n = 0
            while not stop.is_set():
                n += 1
                ident = f"crash-{run}-{worker}-{n}"
                try:
                    r = http.post(
                        TRIAGE,
                        json=response(identifier={"system": "urn:crash", "value": ident}, patient=f"crash{worker}"),
                        headers={"Content-Type": "application/fhir+json"},
                    )
                except httpx.TransportError:
                    return  # the server died under us: this one was never acknowledged
                if r.status_code in (200, 201):
                    acknowledged[ident] = r.json()["id"]

    threads = [threading.Thread(target=load, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    time.sleep(1.5)
    server.send_signal(signal.SIGKILL)
    server.wait()
    stop.set()
    for t in threads:
        t.join()
    assert len(acknowledged) > 20  # the load was real

    server = _start(database_url, port, tmp_path)  # no manual repair
    try:
        with httpx.Client(base_url=base) as http:
            for ident, careplan_id in acknowledged.items():
                careplan = http.get(f"/fhir/CarePlan/{careplan_id}")
                assert careplan.status_code == 200, ident
                body = careplan.json()
                assert http.get(f"/fhir/{body['encounter']['reference']}").status_code == 200
                assert http.get(f"/fhir/{body['supportingInfo'][0]['reference']}").status_code == 200
                # resubmitting an acknowledged response gives the same CarePlan: it was stored whole
                again = http.post(
                    TRIAGE,
                    json=response(
                        identifier={"system": "urn:crash", "value": ident},
                        patient=body["subject"]["reference"].split("/")[1],
                    ),
                    headers={"Content-Type": "application/fhir+json"},
                )
                assert again.status_code == 200 and again.json()["id"] == careplan_id
    finally:
        server.terminate()
        server.wait(timeout=20)
