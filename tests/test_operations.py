"""What an operator and a first-time integrator run into: an unmigrated database, a `$triage`
lost to the shell, the audit trail while the database is down, backups and restores."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import make_url

from app.main import create_app
from app.services import services
from app.settings import Settings
from tests.support import TRIAGE, assert_fhir_response, post_triage, response


@pytest.fixture
def unmigrated(blank_database_url):
    app = create_app(Settings(database_url=blank_database_url, auto_migrate=False, webhook_dispatcher="off"))
    with TestClient(app) as client:
        yield client


def test_an_unmigrated_database_answers_503_not_migrated(unmigrated):
    for answer in (
        post_triage(unmigrated, response()),
        unmigrated.get("/fhir/CarePlan/x"),
        unmigrated.get("/fhir/CarePlan", params={"subject": "Patient/p1"}),
        unmigrated.get("/fhir/Subscription"),
    ):
        outcome = assert_fhir_response(answer, 503, "OperationOutcome")
        assert answer.headers["retry-after"]
        assert "database not migrated" in outcome["issue"][0]["diagnostics"]
        assert "lbp-triage migrate" in outcome["issue"][0]["diagnostics"]
    assert unmigrated.get("/readyz").status_code == 503


@pytest.mark.parametrize("path", ["/fhir/QuestionnaireResponse/", "/fhir/QuestionnaireResponse"])
def test_triage_without_its_operation_name_hints_at_shell_quoting(client, path):
    """`curl -X POST "…/QuestionnaireResponse/$triage"`: the shell turns $triage into nothing."""
    r = client.post(path, content=b"{}", headers={"Content-Type": "application/fhir+json"}, follow_redirects=False)
    outcome = assert_fhir_response(r, 405, "OperationOutcome")
    text = outcome["issue"][0]["diagnostics"]
    assert TRIAGE in text and "single quotes" in text
    assert r.headers["allow"]


# --- the audit trail while the database is down ---------------------------------------


class Switch:
    """A TCP relay in front of PostgreSQL that can be cut and restored: the database goes down
    for the service without touching the shared server."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.port = 0
        self.sockets: list[socket.socket] = []
        self.listener: socket.socket | None = None
        self.up()

    def up(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(16)
        self.port = listener.getsockname()[1]
        self.listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def down(self) -> None:
        assert self.listener is not None
        with contextlib.suppress(OSError):
            self.listener.shutdown(socket.SHUT_RDWR)  # wakes the thread blocked in accept()
        self.listener.close()
        self.listener = None
        for s in self.sockets:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()
        self.sockets.clear()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            self.sockets += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for s in (source, sink):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)


class SqliteOutage:
    """The SQLite file disappears (a lost volume): its path becomes a directory."""

    def __init__(self, url: str) -> None:
        self.path = Path(make_url(url).database)
        self.moved = self.path.with_name("moved-away")
        self.moved.mkdir()

    def down(self, engine) -> None:
        engine.dispose()
        for f in self.path.parent.glob(self.path.name + "*"):
            f.rename(self.moved / f.name)
        self.path.mkdir()

    def up(self, engine) -> None:
        self.path.rmdir()
        for f in self.moved.iterdir():
            f.rename(self.path.parent / f.name)
        engine.dispose()


def _wait(condition, what: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def _metric(client, name: str) -> float:
    from prometheus_client.parser import text_string_to_metric_families

    for family in text_string_to_metric_families(client.get("/metrics").text):
        for sample in family.samples:
            if sample.name == name:
                return sample.value
    raise AssertionError(f"{name} not in /metrics")


def test_access_attempts_while_the_database_is_down_are_spooled_then_replayed(blank_database_url, tmp_path):
    url = make_url(blank_database_url)
    if url.get_backend_name() == "postgresql":
        switch = Switch(url.host or "127.0.0.1", url.port or 5432)
        database_url = url.set(port=switch.port).render_as_string(hide_password=False)
        outage = None
    else:
        database_url, switch, outage = blank_database_url, None, SqliteOutage(blank_database_url)
    spool = tmp_path / "audit-spool.ndjson"
    app = create_app(
        Settings(database_url=database_url, auto_migrate=True, webhook_dispatcher="off", audit_spool_path=str(spool))
    )
    with TestClient(app) as c:
        careplan = assert_fhir_response(post_triage(c, response(patient="p7")), 201, "CarePlan")
        engine = services(app).engine
        switch.down() if switch else outage.down(engine)
        try:
            assert_fhir_response(c.get(f"/fhir/CarePlan/{careplan['id']}"), 503, "OperationOutcome")
            _wait(lambda: spool.exists() and spool.stat().st_size > 0, "the refused read was not spooled")
            assert _metric(c, "lbp_audit_spool_records") == 1
            assert _metric(c, "lbp_database_up") == 0
            assert c.get("/readyz").status_code == 503
        finally:
            switch.up() if switch else outage.up(engine)
        _wait(lambda: c.get("/readyz").status_code == 200, "the service did not recover")
        _wait(lambda: spool.stat().st_size == 0, "the spool was not replayed")
        assert _metric(c, "lbp_audit_spool_records") == 0
        assert _metric(c, "lbp_database_up") == 1
        events = assert_fhir_response(c.get("/fhir/AuditEvent", params={"_count": 100}), 200, "Bundle")
        outcomes = [
            (e["resource"]["entity"][0]["what"].get("reference"), e["resource"]["outcomeDesc"])
            for e in events.get("entry", ())
            if e["resource"].get("entity")
        ]
        assert (f"CarePlan/{careplan['id']}", "HTTP 503") in outcomes
    if switch:
        switch.down()
