"""Dispatchers as processes: killed mid-delivery and restarted, several side by side on PostgreSQL,
in-process in the API's lifespan and stopped cleanly; and the migration that made their tables."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect, select

from app.fhir.openapi import example_responses
from app.services import services
from app.store.tables import WebhookOutbox
from tests.support import assert_fhir_response, post_triage
from tests.webhook_support import FAST, Receiver, Reply, RunningDispatcher, drained, subscribe, wait_until

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def receiver():
    running = Receiver()
    yield running
    running.stop()


def triage(client, disposition: str = "urgent", patient: str = "p1") -> str:
    body = {k: v for k, v in example_responses()[disposition].items() if k != "identifier"}
    body["subject"] = {"reference": f"Patient/{patient}"}
    return assert_fhir_response(post_triage(client, body), 201, "CarePlan")["id"]


def worker(database_url: str) -> subprocess.Popen:
    env = {
        **os.environ,
        "LBP_DATABASE_URL": database_url,
        "LBP_LOG_LEVEL": "WARNING",
        "LBP_WEBHOOK_TIMEOUT_SECONDS": "1",
        **{f"LBP_{k.upper()}": str(v) for k, v in FAST.items() if k != "webhook_timeout_seconds"},
    }
    return subprocess.Popen(
        [sys.executable, "-m", "app.cli", "worker"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def test_a_worker_killed_mid_delivery_and_restarted_loses_nothing(client, app, database_url, receiver):
    stalled, release = threading.Event(), threading.Event()

    def stall_third_event(request, n):
        if request.kind == "event-notification" and request.event_number == 3 and not stalled.is_set():
            stalled.set()
            release.wait(20)  # the worker dies while waiting for this answer
        return Reply(204)

    receiver.behaviour = stall_third_event
    subscribe(client, f"{receiver.base_url}/crash")
    careplans = [triage(client) for _ in range(6)]
    first = worker(database_url)
    try:
        assert stalled.wait(20), "the worker never got to the third event"
        first.kill()  # SIGKILL: no clean-up of any kind
        first.wait(10)
    finally:
        release.set()
        if first.poll() is None:
            first.kill()
    second = worker(database_url)
    try:
        receiver.wait_for(lambda r: len(r.events("/crash")) == 6, timeout=30)
        wait_until(lambda: drained(app))
    finally:
        second.terminate()  # SIGTERM: a clean stop
        assert second.wait(15) == 0
    events = receiver.events("/crash")
    assert [r.focus.rsplit("/", 1)[1] for r in events] == careplans
    assert [r.event_number for r in events] == [1, 2, 3, 4, 5, 6]
    third = events[2].headers["webhook-id"]
    assert [r.headers["webhook-id"] for r in receiver.at("/crash", accepted_only=False)].count(third) == 2


def test_two_workers_on_postgresql_never_deliver_the_same_row_at_the_same_time(client, app, receiver):
    if services(app).engine.dialect.name != "postgresql":
        pytest.skip("several workers are for PostgreSQL (SKIP LOCKED); SQLite runs one dispatcher")
    receiver.behaviour = lambda request, n: Reply(204, delay=0.003)
    paths = [f"/w{i}" for i in range(6)]
    for path in paths:
        subscribe(client, f"{receiver.base_url}{path}")
    careplans = [triage(client, "self-care", f"p{i}") for i in range(25)]
    settings = app.state.settings.model_copy(update={**FAST, "webhook_concurrency": 2, "webhook_batch_size": 5})
    workers = [RunningDispatcher(services(app).engine, settings, owner=f"worker-{i}") for i in range(2)]
    try:
        receiver.wait_for(lambda r: all(len(r.events(p)) == 25 for p in paths), timeout=60)
    finally:
        for running in workers:
            running.stop()
    assert receiver.overlaps == []
    every = [r.headers["webhook-id"] for r in receiver.requests]
    assert len(every) == len(set(every)) == 6 * 26  # no row delivered twice, even one after the other
    for path in paths:
        assert [r.focus.rsplit("/", 1)[1] for r in receiver.events(path)] == careplans
    assert all(running.dispatcher.delivered > 0 for running in workers)


def test_the_in_process_dispatcher_delivers_and_stops_between_deliveries(client, database_url, receiver):
    from fastapi.testclient import TestClient

    from app.main import create_app
    from app.settings import Settings

    receiver.behaviour = lambda request, n: Reply(204, delay=0.5 if request.event_number == 2 else 0.0)
    application = create_app(
        Settings(database_url=database_url, auto_migrate=True, webhook_dispatcher="inprocess", **FAST)
    )
    with TestClient(application) as api:
        subscribe(api, f"{receiver.base_url}/inproc")
        first = triage(api)
        receiver.wait_for(lambda r: len(r.events("/inproc")) == 1)  # woken by the commit, no poll needed
        assert receiver.events("/inproc")[0].focus.endswith(first)
        for _ in range(3):
            triage(api)
        wait_until(lambda: any(receiver.in_flight.values()))  # event 2 is on its way
    # the lifespan has ended: event 2 finished and was recorded, nothing else was started
    with services(application).engine.connect() as conn:
        states = [
            state
            for (state,) in conn.execute(
                select(WebhookOutbox.state).where(WebhookOutbox.kind == "event-notification").order_by(WebhookOutbox.id)
            )
        ]
    assert states == ["delivered", "delivered", "pending", "pending"]
    assert [r.event_number for r in receiver.at("/inproc", accepted_only=False)] == [None, 1, 2]


def _tables(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


@pytest.mark.parametrize("engine_name", ["sqlite", "postgresql"])
def test_the_webhook_migration_upgrades_and_downgrades(tmp_path, engine_name):
    from app.store import migrate
    from app.store.db import make_engine, normalise_url
    from tests.conftest import _postgres_reachable, scratch_postgres_database

    if engine_name == "sqlite":
        database = contextlib.nullcontext(f"sqlite:///{tmp_path / 'migrate.db'}")
    else:
        if not _postgres_reachable():
            pytest.skip("PostgreSQL not reachable")
        database = scratch_postgres_database("lbp_migrate")
    with database as url:
        engine = make_engine(url)
        try:
            migrate.upgrade(engine)
            assert {"webhook_subscription", "webhook_outbox", "triage_encounter"} <= _tables(normalise_url(url))
            migrate.downgrade(engine, "20261125_0001")
            tables = _tables(normalise_url(url))
            assert "triage_encounter" in tables and not {"webhook_subscription", "webhook_outbox"} & tables
            migrate.upgrade(engine)
            assert migrate.is_up_to_date(engine)
        finally:
            engine.dispose()
