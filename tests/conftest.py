"""Fixtures. The API suite runs once per database engine: SQLite always, PostgreSQL whenever
it is reachable (and in CI, where PYTEST_REQUIRE_POSTGRES=1, it must be)."""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from hypothesis import HealthCheck, settings

from app.services import services

settings.register_profile("default", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("ci", deadline=None, max_examples=200, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("ci" if os.environ.get("CI") else "default")

# The key sealing webhook secrets at rest (tests of key handling pass their own settings).
TEST_SECRET_KEY = "dGVzdC1rZXktZW5jcnlwdGlvbi1rZXktMzItYnl0ZXM"  # base64url of 32 bytes
os.environ.setdefault("LBP_SECRET_KEY", TEST_SECRET_KEY)

POSTGRES_ADMIN_URL = os.environ.get("PYTEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REQUIRE_POSTGRES = os.environ.get("PYTEST_REQUIRE_POSTGRES") == "1"


def _postgres_reachable() -> bool:
    from sqlalchemy.engine import make_url

    url = make_url(POSTGRES_ADMIN_URL)
    try:
        with socket.create_connection((url.host or "127.0.0.1", url.port or 5432), timeout=1):
            return True
    except OSError:
        return False


def _engines() -> list:
    params = [pytest.param("sqlite", id="sqlite")]
    if _postgres_reachable() or REQUIRE_POSTGRES:
        params.append(pytest.param("postgresql", id="postgresql"))
    else:
        params.append(
            pytest.param("postgresql", id="postgresql", marks=pytest.mark.skip(reason="PostgreSQL not reachable"))
        )
    return params


@pytest.fixture(scope="session", params=_engines())
def database_url(request, tmp_path_factory) -> Iterator[str]:
    """A fresh, empty database for this test session, on each engine."""
    if request.param == "sqlite":
        # Not under pytest's own temporary tree: pytest sessions running at the same time on this
        # machine (as the same user) prune each other's older trees, and this file must outlive
        # the session (the service now notices a database file deleted under it).
        directory = tempfile.mkdtemp(prefix="lbp-test-db-")
        try:
            yield f"sqlite:///{directory}/test.db"
        finally:
            shutil.rmtree(directory, ignore_errors=True)
        return
    if not _postgres_reachable():
        pytest.fail("PostgreSQL is required (PYTEST_REQUIRE_POSTGRES=1) but not reachable")
    with scratch_postgres_database("lbp_test") as url:
        yield url


@contextmanager
def scratch_postgres_database(prefix: str) -> Iterator[str]:
    """A new, empty PostgreSQL database for the duration, dropped afterwards."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    from app.store.db import normalise_url

    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = create_engine(normalise_url(POSTGRES_ADMIN_URL), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def app(database_url):
    from fastapi.testclient import TestClient

    from app.main import create_app
    from app.settings import Settings

    # Webhook dispatchers are started by the tests that need them (tests/webhook_support.py);
    # the webhook receivers they use listen on loopback, hence the allowlist.
    application = create_app(
        Settings(
            database_url=database_url,
            auto_migrate=True,
            page_size=20,
            webhook_dispatcher="off",
            webhook_allowed_hosts="127.0.0.1",
        )
    )
    with TestClient(application):  # runs the lifespan: engine, migrations
        yield application


def _empty_tables(application) -> None:
    from sqlalchemy import delete

    from app.store.tables import Base

    with services(application).engine.begin() as conn:
        for table in reversed(Base.metadata.sorted_tables):
            conn.execute(delete(table))
    services(application).subscriptions.index.invalidate()  # the API's cached view of them is stale now


@pytest.fixture
def client(app):
    """A test client on an empty database."""
    from fastapi.testclient import TestClient

    _empty_tables(app)
    # Not entered as a context manager: the session's lifespan (engine, writer) stays in force.
    test_client = TestClient(app, base_url="http://testserver")
    try:
        yield test_client
    finally:
        test_client.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def live_server(app) -> Iterator[str]:
    """The app served by a real uvicorn on loopback, for real HTTP clients."""
    import uvicorn

    _empty_tables(app)
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture(params=_engines())
def blank_database_url(request, tmp_path) -> Iterator[str]:
    """A new database with no tables at all (not migrated), on each engine, for one test."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'blank.db'}"
        return
    if not _postgres_reachable():
        pytest.fail("PostgreSQL is required (PYTEST_REQUIRE_POSTGRES=1) but not reachable")
    with scratch_postgres_database("lbp_blank") as url:
        yield url
