"""Benchmark: webhook deliveries per second, one dispatcher (one worker process), to a local receiver.

Target (quality.md): ≥ 1,000 deliveries per second per worker. The receiver runs in a process of
its own (uvicorn, answering 204); the outbox is filled with real triages before the clock starts;
every delivery is signed and checked against the SSRF policy as in production.

    .venv/bin/python -m bench.webhooks [--deliveries 20000] [--subscriptions 1,16]
                                       [--database postgresql://postgres@127.0.0.1/bench]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import random
import socket
import tempfile
import time
from pathlib import Path

TARGET = 1000


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _receiver(port: int) -> None:
    import uvicorn
    from starlette.types import Receive, Scope, Send

    async def app(
        scope: Scope, receive: Receive, send: Send
    ) -> None:  # the cheapest receiver: read the body, answer 204
        if scope["type"] != "http":
            return
        more = True
        while more:
            message = await receive()
            more = message.get("more_body", False)
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    uvicorn.run(app, host="127.0.0.1", port=port, log_level="error", access_log=False, lifespan="off")


def _wait_for_port(port: int) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("the receiver did not start")


def _fill(database_url: str, port: int, subscriptions: int, triages: int, content: str) -> None:
    from sqlalchemy import delete

    from app.security.authority import Authority
    from app.settings import Settings, keyring_for
    from app.store import migrate
    from app.store.db import make_engine
    from app.store.tables import Base
    from app.subscriptions.resources import parse_subscription
    from app.subscriptions.store import Outbox, SubscriptionIndex, SubscriptionRepository
    from app.triage.repository import EncounterRepository
    from app.triage.service import submit
    from bench.common import random_response
    from tests.webhook_support import subscription_body

    # the bench's subscriptions may carry every resource a notification can hold, to any patient
    authority = Authority(frozenset({"CarePlan", "Encounter"}), None)
    engine = make_engine(database_url)
    migrate.upgrade(engine)
    with engine.begin() as conn:
        for table in reversed(Base.metadata.sorted_tables):
            conn.execute(delete(table))
    outbox = Outbox(SubscriptionIndex(engine, 0))
    # the same key as the dispatcher's below (LBP_SECRET_KEY, or the development key file)
    keyring = keyring_for(Settings(database_url=database_url))
    repository = SubscriptionRepository(engine, outbox.index, outbox, keyring)
    for i in range(subscriptions):
        body = subscription_body(f"http://127.0.0.1:{port}/hook/{i}", content=content)
        repository.create(parse_subscription(body), "http://bench.local/fhir", authority.as_json())
    encounters = EncounterRepository(engine, outbox)
    rng = random.Random(5)
    for n in range(triages):
        submit(random_response(rng, n), encounters)
    engine.dispose()


async def _deliver(database_url: str, expected: int) -> float:
    from app.settings import Settings
    from app.store.db import make_engine
    from app.subscriptions.dispatcher import Dispatcher

    settings = Settings(database_url=database_url, webhook_allowed_hosts="127.0.0.1", webhook_poll_seconds=0.05)
    engine = make_engine(database_url)
    dispatcher = Dispatcher(engine, settings)
    started = time.perf_counter()
    running = asyncio.create_task(dispatcher.run())
    while dispatcher.delivered < expected:
        await asyncio.sleep(0.01)
        if running.done():
            raise RuntimeError("the dispatcher stopped")
    elapsed = time.perf_counter() - started
    dispatcher.stop()
    await running
    engine.dispose()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--deliveries", type=int, default=20000, help="about how many per run")
    parser.add_argument("--subscriptions", default="1,16", help="comma-separated: one run each")
    parser.add_argument("--content", choices=("id-only", "full-resource"), default="id-only")
    parser.add_argument("--database", help="default: a temporary SQLite file")
    args = parser.parse_args()

    port = _free_port()
    receiver = multiprocessing.get_context("spawn").Process(target=_receiver, args=(port,), daemon=True)
    receiver.start()
    _wait_for_port(port)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            database_url = args.database or f"sqlite:///{Path(tmp) / 'bench.db'}"
            engine_name = database_url.split(":", 1)[0]
            print(
                f"{'database':>10} {'subscriptions':>13} {'deliveries':>10} {'seconds':>8} {'per second':>11} "
                f"{'target':>7}"
            )
            for subscriptions in (int(s) for s in args.subscriptions.split(",")):
                triages = max(1, args.deliveries // subscriptions)
                _fill(database_url, port, subscriptions, triages, args.content)
                expected = triages * subscriptions + subscriptions  # events and handshakes
                try:
                    import uvloop
                except ImportError:
                    elapsed = asyncio.run(_deliver(database_url, expected))
                else:
                    elapsed = uvloop.run(_deliver(database_url, expected))
                rate = expected / elapsed
                verdict = "ok" if rate >= TARGET else "BELOW"
                print(f"{engine_name:>10} {subscriptions:>13} {expected:>10} {elapsed:8.2f} {rate:11,.0f} {verdict:>7}")
    finally:
        receiver.terminate()
        receiver.join(5)


if __name__ == "__main__":
    main()
