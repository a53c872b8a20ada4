"""SQLite durability (hardening, finding 6): the data file's directory, the file and its -wal and
-shm are checked at start and by /readyz, which also proves a write works; a vanished or
read-only database makes /readyz fail and writes answer 503, never 201; an unwritable -shm
never kills the process. SQLite only (PostgreSQL has its own server for this)."""

from __future__ import annotations

import shutil
import subprocess
from contextlib import contextmanager
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.main import create_app
from app.settings import Settings
from tests.support import post_triage, response

pytestmark = pytest.mark.skipif(shutil.which("chattr") is None, reason="chattr (e2fsprogs) not installed")


@contextmanager
def immutable(*paths: Path):
    """Read-only even for root (tests may run as root, whom permission bits do not stop)."""
    subprocess.run(["chattr", "+i", *map(str, paths)], check=True)
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", *map(str, paths)], check=True)


@pytest.fixture
def data_dir(tmp_path):
    path = tmp_path / "data"
    path.mkdir()
    return path


@contextmanager
def serving(data_dir: Path):
    app = create_app(Settings(database_url=f"sqlite:///{data_dir / 'lbp.db'}", webhook_dispatcher="off"))
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


def test_a_vanished_database_is_not_ready_and_writes_are_503_never_201(data_dir):
    with serving(data_dir) as client:
        assert post_triage(client, response(patient="p1")).status_code == 201
        assert client.get("/readyz").status_code == 200
        shutil.rmtree(data_dir)  # the data directory deleted under the running service
        r = post_triage(client, response(patient="p1"))
        assert r.status_code == 503 and r.json()["resourceType"] == "OperationOutcome"
        assert client.get("/readyz").status_code == 503


def test_a_read_only_database_is_not_ready_and_writes_are_503(data_dir):
    with serving(data_dir) as client:
        assert post_triage(client, response(patient="p1")).status_code == 201
        files = [p for p in data_dir.iterdir() if p.name.endswith((".db", "-wal"))]
        with immutable(*files):
            assert post_triage(client, response(patient="p1")).status_code == 503
            assert client.get("/readyz").status_code == 503
        assert client.get("/readyz").status_code == 200, client.get("/readyz").text  # and it recovers
        assert post_triage(client, response(patient="p1")).status_code == 201


def test_an_unwritable_shm_is_refused_at_start_not_mapped(data_dir):
    """A -shm left behind (by a crashed process) that cannot be written: the service refuses to
    start, saying which file, instead of mapping it (and faulting on it later)."""
    import sys

    with serving(data_dir):
        pass
    leave_behind = (
        "import os, sqlite3; c = sqlite3.connect(os.environ['DB']); c.execute('PRAGMA journal_mode=WAL'); "
        "c.execute('PRAGMA wal_autocheckpoint=0'); c.execute('CREATE TABLE IF NOT EXISTS scratch (x)'); "
        "c.execute('INSERT INTO scratch VALUES (1)'); c.commit(); os._exit(0)"
    )
    subprocess.run([sys.executable, "-c", leave_behind], env={"DB": str(data_dir / "lbp.db")}, check=True)
    shm = data_dir / "lbp.db-shm"
    assert shm.exists()
    with immutable(shm), pytest.raises(RuntimeError, match=r"cannot write .*lbp\.db-shm"), serving(data_dir):
        pass
    with serving(data_dir) as client:  # writable again: serves
        assert client.get("/readyz").status_code == 200


def test_an_shm_made_unwritable_while_serving_does_not_kill_the_process(data_dir):
    """Closing the connections over a -shm that became unwritable faults (SIGBUS) in SQLite's
    shared memory; the service reports it (not ready) and leaves them to the operating system."""
    import sys

    script = (
        "import subprocess, sys; from fastapi.testclient import TestClient; from app.main import create_app; "
        "from app.settings import Settings; from tests.support import post_triage, response; "
        f"app = create_app(Settings(database_url='sqlite:///{data_dir / 'lbp.db'}', webhook_dispatcher='off')); "
        "client = TestClient(app).__enter__(); "
        "assert post_triage(client, response(patient='p1')).status_code == 201; "
        f"subprocess.run(['chattr', '+i', '{data_dir / 'lbp.db-shm'}'], check=True); "
        "print('readyz', client.get('/readyz').status_code, flush=True); "
        "client.__exit__(None, None, None); print('survived', flush=True)"
    )
    try:
        ran = subprocess.run(
            [sys.executable, "-c", script], capture_output=True, text=True, cwd=Path(__file__).parent.parent
        )
    finally:
        subprocess.run(["chattr", "-i", str(data_dir / "lbp.db-shm")])
    assert ran.returncode == 0, (ran.returncode, ran.stderr[-2000:])
    assert "readyz 503" in ran.stdout and "survived" in ran.stdout


def test_start_up_refuses_a_data_directory_it_cannot_write(data_dir):
    with serving(data_dir):
        pass  # the database exists now
    with (
        immutable(data_dir),
        pytest.raises(RuntimeError, match="cannot write in the data directory"),
        serving(data_dir),
    ):
        pass
