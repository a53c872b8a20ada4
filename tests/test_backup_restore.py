"""The operator's guide's backup and restore, run as written, on each engine: back up while the
service runs, wipe the database, restore, and every CarePlan reads back the same (and the
webhook secrets still open with the same LBP_SECRET_KEY)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from app.main import create_app
from app.services import services
from app.settings import Settings
from app.store.db import normalise_url
from tests.conftest import POSTGRES_ADMIN_URL
from tests.support import answers_with, assert_fhir_response, post_triage, response
from tests.webhook_support import secret, subscribe

ROOT = Path(__file__).resolve().parents[1]
CASES = [
    answers_with(),
    answers_with(saddle_numbness=True),
    answers_with(pain_intolerable=True),
    answers_with(age=70),
    answers_with(fever=True),
]


def _run(*args: str, cwd: Path, env: dict[str, str] | None = None) -> None:
    done = subprocess.run(args, cwd=cwd, capture_output=True, text=True, env={**os.environ, **(env or {})})
    assert done.returncode == 0, (args, done.stdout, done.stderr)


def _backup(url: str, where: Path) -> Path:
    """As docs/operator-guide.md says, while the service runs."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        target = where / "backup.db"
        # the guide's online backup (sqlite3's backup API: a consistent copy of a live database)
        _run(
            sys.executable,
            "-c",
            "import sqlite3, sys; sqlite3.connect(sys.argv[1]).backup(sqlite3.connect(sys.argv[2]))",
            parsed.database,
            str(target),
            cwd=where,
        )
        return target
    target = where / "lbp.dump"
    _run("pg_dump", "--format=custom", f"--file={target}", url, cwd=where)
    return target


def _wipe(url: str) -> None:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        for suffix in ("", "-wal", "-shm"):
            Path(parsed.database + suffix).unlink(missing_ok=True)
        return
    admin = create_engine(normalise_url(POSTGRES_ADMIN_URL), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE "{parsed.database}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{parsed.database}"'))
    admin.dispose()


def _restore(url: str, backup: Path) -> None:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        # with the service stopped: no stale -wal/-shm may outlive the file they belong to
        _run(
            "sh",
            "-c",
            f'rm -f "{parsed.database}-wal" "{parsed.database}-shm" && cp "{backup}" "{parsed.database}"',
            cwd=backup.parent,
        )
        return
    _run("pg_restore", "--no-owner", f"--dbname={url}", str(backup), cwd=backup.parent)


def test_back_up_wipe_restore_and_every_careplan_reads_back(blank_database_url, tmp_path):
    settings = Settings(
        database_url=blank_database_url, auto_migrate=True, webhook_dispatcher="off", webhook_allowed_hosts="127.0.0.1"
    )
    careplans = {}
    with TestClient(create_app(settings)) as c:
        for number, answers in enumerate(CASES):
            careplan = assert_fhir_response(post_triage(c, response(answers, patient=f"p{number}")), 201, "CarePlan")
            careplans[careplan["id"]] = careplan
        given = secret()
        subscription = subscribe(c, "http://127.0.0.1:9/hook", secret_value=given, headers=("X-Token: t-1",))
        backup = _backup(blank_database_url, tmp_path)  # online: the service is running
    _wipe(blank_database_url)
    with TestClient(create_app(settings.model_copy(update={"auto_migrate": False}))) as empty:
        assert empty.get(f"/fhir/CarePlan/{next(iter(careplans))}").status_code == 503  # nothing there now
    _restore(blank_database_url, backup)
    _run(sys.executable, "-m", "app.cli", "migrate", cwd=ROOT, env={"LBP_DATABASE_URL": blank_database_url})
    with TestClient(create_app(settings.model_copy(update={"auto_migrate": False}))) as c:
        assert c.get("/readyz").status_code == 200
        for careplan_id, careplan in careplans.items():
            assert assert_fhir_response(c.get(f"/fhir/CarePlan/{careplan_id}"), 200, "CarePlan") == careplan
        found = assert_fhir_response(c.get("/fhir/CarePlan", params={"_count": 50}), 200, "Bundle")
        assert {e["resource"]["id"] for e in found["entry"]} == set(careplans)
        row = services(c.app).subscriptions.read(subscription["id"])
        assert row.secret == given and row.headers == ["X-Token: t-1"]
