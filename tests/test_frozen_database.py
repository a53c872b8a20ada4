"""A frozen PostgreSQL (hardening, finding 5): requests answer 503 within the database timeout
instead of hanging for as long as it is frozen, /readyz keeps to its own timeout, and service
resumes by itself when the database thaws. The PostgreSQL is one this test starts (initdb and
pg_ctl in a temporary directory) and freezes with SIGSTOP; never the shared server."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import httpx
import pytest
import uvicorn

from app.main import create_app
from app.settings import Settings
from tests.conftest import _free_port
from tests.support import TRIAGE, response

BIN = (
    next(iter(sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)), None)
    if Path("/usr/lib/postgresql").exists()
    else None
)
INITDB = shutil.which("initdb") or (str(BIN / "initdb") if BIN else None)


def _as_postgres(args: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *args] if os.geteuid() == 0 else args


def _tree(pid: int) -> list[int]:
    """The postmaster and every process it started."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, []))
    return found


@pytest.fixture
def own_postgres():
    if INITDB is None or not Path(INITDB).exists():
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) not installed")
    bindir = Path(INITDB).resolve().parent
    # a directory the postgres user can reach (pytest's own temporary tree is root's alone)
    tmp_path = Path(tempfile.mkdtemp(prefix="lbp-frozen-pg-"))
    data = tmp_path / "pgdata"
    data.mkdir()
    if os.geteuid() == 0:
        shutil.chown(tmp_path, "postgres")
        shutil.chown(data, "postgres")
    port = _free_port()
    subprocess.run(
        _as_postgres([str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres", "--no-sync"]),
        check=True,
        capture_output=True,
    )
    options = f"-p {port} -k {tmp_path} -c listen_addresses=127.0.0.1 -c fsync=off"
    subprocess.run(
        _as_postgres(
            [str(bindir / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(tmp_path / "log"), "-w", "start"]
        ),
        check=True,
        capture_output=True,
    )
    postmaster = int((data / "postmaster.pid").read_text().split()[0])
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres", postmaster
    finally:
        for pid in _tree(postmaster):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)
        subprocess.run(
            _as_postgres([str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"]), capture_output=True
        )
        shutil.rmtree(tmp_path, ignore_errors=True)


def test_a_frozen_postgresql_gives_503_not_a_hang_and_service_resumes(own_postgres):
    url, postmaster = own_postgres
    app = create_app(
        Settings(database_url=url, auto_migrate=True, webhook_dispatcher="off", db_pool_size=1, db_timeout_seconds=1)
    )
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    # A client that waits long enough to tell a bounded answer from a hang.
    client = httpx.Client(base_url=base, timeout=20, headers={"Content-Type": "application/fhir+json"})
    try:
        assert client.post(TRIAGE, json=response(patient="p1")).status_code == 201
        assert client.get("/fhir/CarePlan").status_code == 200
        assert client.get("/readyz").status_code == 200
        for pid in _tree(postmaster):
            os.kill(pid, signal.SIGSTOP)
        try:
            for _ in range(2):  # the pooled connection (cut), then a new one (connect timeout)
                r = client.get("/fhir/CarePlan")
                assert r.status_code == 503 and r.json()["resourceType"] == "OperationOutcome", r.text
                assert r.headers["retry-after"]
            assert client.post(TRIAGE, json=response(patient="p1")).status_code == 503
            assert client.get("/readyz").status_code == 503
            assert client.get("/healthz").status_code == 200
        finally:
            for pid in _tree(postmaster):
                with contextlib.suppress(ProcessLookupError):  # a process of the tree that ended meanwhile
                    os.kill(pid, signal.SIGCONT)
        deadline = time.monotonic() + 20
        while client.get("/fhir/CarePlan").status_code != 200:  # the broken connections are replaced
            assert time.monotonic() < deadline, "the service did not recover"
            time.sleep(0.1)
        assert client.get("/readyz").status_code == 200
        assert client.post(TRIAGE, json=response(patient="p1")).status_code == 201
        # the audit records of the requests refused during the outage were kept and written since
        deadline = time.monotonic() + 10
        while True:
            events = client.get("/fhir/AuditEvent", params={"_count": "200"}).json().get("entry", [])
            if any(e["resource"]["outcomeDesc"].startswith("HTTP 503") for e in events):
                break
            assert time.monotonic() < deadline, "the outage's audit records were lost"
            time.sleep(0.1)
    finally:
        client.close()
        server.should_exit = True
        thread.join(15)
