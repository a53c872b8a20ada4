"""Where one $triage's time goes: a per-part budget in µs, in-process, medians.

Figures are CPU time of the process (all threads), not wall time: on a shared machine the
wall clock also counts the time spent waiting for a core. The app runs as production does (log level INFO, static-token auth, audit on), driven
in-process through ASGI one request at a time so that each part can be timed alone and
the sum compared with the whole; every part is repeated --requests times and the median
kept, all in one run (absolute figures drift between runs on a shared machine, the split
does not).

    .venv/bin/python -m bench.budget [--requests 3000] [--database sqlite:///path | postgresql://…]

Parts:
  routing + middleware   the whole request without storage, minus the parts below
  body read/parse        orjson.loads (the depth limit is checked inside validation's one structure walk)
  validation + triage    app.triage.scoring.score
  render                 ids, Encounter, CarePlan (prepare − score)
  response JSON          orjson of the CarePlan
  storage insert         the triage's rows (encounter + audit) in one open transaction
  commit                 COMMIT of one triage; and per triage when 16 are grouped
  writer hop + wait      the whole request with storage − without storage − insert − commit
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import gc
import logging
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "app/fhir/data/examples/self-care.json"
TOKEN = "bench-token"
# The webhook secrets' key production requires (base64url of 32 bytes); a throwaway for benchmarks.
BENCH_SECRET_KEY = "YmVuY2gta2V5LWZvci13ZWJob29rLXNlY3JldHMtMzI"
TOKENS = {TOKEN: {"scopes": ["system/QuestionnaireResponse.c", "system/CarePlan.rs"], "subject": "bench"}}
TRIAGE_PATH = "/fhir/QuestionnaireResponse/$triage"


def bench_body() -> bytes:
    """The example response without its identifier: every request makes a new encounter."""
    data = orjson.loads(EXAMPLE.read_bytes())
    data.pop("identifier", None)
    return orjson.dumps(data)


_clock = time.process_time_ns


def median_us(fn: Callable[[], Any], n: int) -> float:
    times = []
    for _ in range(n):
        start = _clock()
        fn()
        times.append(_clock() - start)
    return statistics.median(times) / 1000


async def amedian_us(fn: Callable[[], Any], n: int) -> float:
    times = []
    for _ in range(n):
        start = _clock()
        await fn()
        times.append(_clock() - start)
    return statistics.median(times) / 1000


class AsgiDriver:
    """One POST through the ASGI app, in-process."""

    def __init__(self, app: Any, body: bytes) -> None:
        self.app = app
        self.body = body
        self.headers = [
            (b"host", b"bench"),
            (b"content-type", b"application/fhir+json"),
            (b"authorization", f"Bearer {TOKEN}".encode()),
            (b"content-length", str(len(body)).encode()),
        ]
        self.status = 0

    async def post(self) -> None:
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": TRIAGE_PATH,
            "raw_path": TRIAGE_PATH.encode(),
            "query_string": b"",
            "root_path": "",
            "headers": self.headers,
            "client": ("127.0.0.1", 50000),
            "server": ("127.0.0.1", 8000),
            "app": self.app,
        }
        sent = False

        async def receive() -> dict[str, Any]:
            nonlocal sent
            if sent:
                await asyncio.sleep(3600)
            sent = True
            return {"type": "http.request", "body": self.body, "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                self.status = message["status"]

        await self.app(scope, receive, send)
        if self.status != 201:
            raise SystemExit(f"$triage answered {self.status}")


class _NoStorage:
    """Stands in for the writer: the triage is 'stored' at once, nothing written."""

    async def run(self, fn: Callable[..., Any], prepared: Any, *args: Any) -> Any:
        from app.triage.service import Submitted

        return Submitted(prepared.careplan, created=True)

    run_grouped = run

    def submit(self, fn: Callable[..., Any], *args: Any) -> None:
        pass


def storage_parts(engine: Any, n: int) -> dict[str, float]:
    from sqlalchemy import insert

    from app.security.audit import audit_row
    from app.store.tables import AuditRecord, TriageEncounter
    from app.triage.service import prepare

    data = orjson.loads(bench_body())
    T, A = TriageEncounter.__table__, AuditRecord.__table__
    insert_t, insert_a = insert(T), insert(A)

    def rows() -> tuple[dict[str, Any], dict[str, Any]]:
        prepared = prepare(data)
        return prepared.row, audit_row(
            interaction="create",
            resource_type="QuestionnaireResponse",
            resource_id=prepared.row["response_id"],
            patient=prepared.row["patient"],
            agent="bench",
            client_address="127.0.0.1",
            status=201,
        )

    singles = [rows() for _ in range(n)]
    insert_times, commit_times = [], []
    with engine.connect() as connection:
        for row, audit in singles:
            start = _clock()
            connection.execute(insert_t, [row])
            connection.execute(insert_a, [audit])
            middle = _clock()
            connection.commit()
            insert_times.append(middle - start)
            commit_times.append(_clock() - middle)
        group = 16
        grouped_insert, grouped_commit = [], []
        for _ in range(max(1, n // (4 * group))):
            batch = [rows() for _ in range(group)]
            start = _clock()
            connection.execute(insert_t, [r for r, _ in batch])
            connection.execute(insert_a, [a for _, a in batch])
            middle = _clock()
            connection.commit()
            grouped_insert.append((middle - start) / group)
            grouped_commit.append((_clock() - middle) / group)
    med = lambda xs: statistics.median(xs) / 1000  # noqa: E731
    return {
        "insert": med(insert_times),
        "commit": med(commit_times),
        "insert16": med(grouped_insert),
        "commit16": med(grouped_commit),
    }


async def measure(database_url: str, n: int) -> list[tuple[str, float, str]]:
    os.environ.update(
        {
            "LBP_AUTH_MODE": "static",
            "LBP_SECRET_KEY": BENCH_SECRET_KEY,
            "LBP_AUTH_TOKENS": orjson.dumps(TOKENS).decode(),
            "LBP_RATE_LIMIT_PER_MINUTE": "0",
            "LBP_AUTO_MIGRATE": "true",
        }
    )
    from app.main import create_app
    from app.services import services
    from app.settings import Settings
    from app.triage.scoring import score
    from app.triage.service import prepare

    app = create_app(Settings(database_url=database_url, log_level="INFO", webhook_dispatcher="off"))
    devnull = open(os.devnull, "w")  # noqa: ASYNC230, SIM115 — one open before the timing; the logs are formatted and written, as in production, to nowhere
    for logger in (logging.getLogger("lbp_triage"), logging.getLogger("uvicorn")):
        for handler in logger.handlers:
            if isinstance(handler, logging.StreamHandler):
                handler.setStream(devnull)
    body = bench_body()
    data = orjson.loads(body)
    async with app.router.lifespan_context(app):
        driver = AsgiDriver(app, body)
        for _ in range(200):
            await driver.post()
        whole = await amedian_us(driver.post, n)
        stored = services(app)
        no_storage_writer: Any = _NoStorage()
        app.state.services = dataclasses.replace(
            stored, writer=no_storage_writer, triage=dataclasses.replace(stored.triage, writer=no_storage_writer)
        )
        try:
            for _ in range(200):
                await driver.post()
            no_storage = await amedian_us(driver.post, n)
        finally:
            app.state.services = stored
        loads = median_us(lambda: orjson.loads(body), n)
        validate = median_us(lambda: score(data), n)
        prepared_all = median_us(lambda: prepare(data), n)
        careplan = prepare(data).careplan
        dumps = median_us(lambda: orjson.dumps(careplan), n)
        storage = storage_parts(services(app).engine, n)
    parse = loads  # the depth limit is enforced inside validation's one structure walk
    render = prepared_all - validate
    routing = no_storage - parse - prepared_all - dumps
    hop = whole - no_storage - storage["insert"] - storage["commit"]
    return [
        ("routing + middleware (auth, audit context, metrics, logging at INFO)", routing, "rest of no-storage"),
        ("body read/parse: orjson.loads", loads, ""),
        ("validation (one structure walk, depth included) + triage", validate, "score()"),
        ("render (ids, Encounter, CarePlan)", render, "prepare() − score()"),
        ("response JSON (orjson)", dumps, ""),
        ("storage insert, one triage alone", storage["insert"], "encounter + audit"),
        ("storage insert, per triage in a group of 16", storage["insert16"], "executemany"),
        ("commit, one triage alone", storage["commit"], ""),
        ("commit, per triage in a group of 16", storage["commit16"], "group commit"),
        ("writer hop (thread and loop wake-ups, futures)", hop, "rest of whole"),
        ("whole request without storage", no_storage, "measured"),
        ("whole request, stored and committed (alone)", whole, "measured"),
    ]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--database", default=None, help="default: a fresh SQLite file")
    parser.add_argument("--no-gc-freeze", action="store_true", help="(the app freezes after start-up)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database or f"sqlite:///{tmp}/budget.db"
        rows = asyncio.run(measure(url, args.requests))
    print(
        f"\nper-part budget of one $triage, CPU µs, medians of {args.requests}, in-process "
        f"({url.split(':')[0]}, gc {'frozen' if gc.get_freeze_count() else 'not frozen'})\n"
    )
    for name, value, note in rows:
        print(f"{name:68} {value:8.1f}  {note}")


if __name__ == "__main__":
    main()
