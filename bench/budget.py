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
  body parse             r4.parse_json: orjson.loads and the duplicate-key check
  fast path              fastpath.covers_structure: the fast model, and the walk's rules where it is
                         looser, in place of the structure walk (which runs for bodies it does not cover)
  structure walk         r4.check_structure, for reference: what a body the fast path does not cover costs
  validation + triage    app.triage.scoring.score (the Questionnaire rules, the rules engine; the fast
                         path was done in place of the walk)
  render                 ids, Encounter, CarePlan (prepare − score)
  response JSON          orjson of the CarePlan
  access log line        the INFO line the access layer writes per request, formatted and written
  writer: store logic    app.triage.service.store on the writer (identifier lookup, audit and outbox rows),
                         rows queued in the group
  writer: inserts        the group's rows written (encounter + audit), alone and per triage in 16
  writer: commit         COMMIT, alone and per triage in 16
  writer hop + wait      the whole request with storage − without storage − the three writer parts:
                         thread and loop wake-ups, futures
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


def storage_parts(engine: Any, repository: Any, n: int) -> dict[str, float]:
    """The writer thread's work for one triage, as the writer runs it (app/store/writer.py,
    app/store/batch.py): store() in the group, then the group's inserts, then its commit."""
    from app.security.audit import audit_row
    from app.store import batch
    from app.triage.service import prepare, store

    data = orjson.loads(bench_body())

    def audit_for(interaction: str, response_id: str) -> dict[str, Any]:
        return audit_row(
            interaction=interaction,
            resource_type="QuestionnaireResponse",
            resource_id=response_id,
            patient=None,
            agent="bench",
            client_address="127.0.0.1",
            status=201,
        )

    groups: dict[Any, Any] = {}

    def one_group(size: int) -> tuple[int, int, int]:
        prepared = [prepare(data) for _ in range(size)]
        start = _clock()
        with batch.grouping(groups):
            for p in prepared:
                store(p, repository, audit_for)
        group = groups[engine]
        stored = _clock()
        group.flush()
        inserted = _clock()
        group.commit()
        committed = _clock()
        return stored - start, inserted - stored, committed - inserted

    for _ in range(50):
        one_group(1)
    alone = [one_group(1) for _ in range(n)]
    grouped = [one_group(16) for _ in range(max(5, n // 64))]
    med = lambda xs, k=1: statistics.median(xs) / 1000 / k  # noqa: E731
    return {
        "store": med([a[0] for a in alone]),
        "insert": med([a[1] for a in alone]),
        "commit": med([a[2] for a in alone]),
        "store16": med([g[0] for g in grouped], 16),
        "insert16": med([g[1] for g in grouped], 16),
        "commit16": med([g[2] for g in grouped], 16),
    }


def access_log_us(n: int) -> float:
    """The access layer's INFO line, through the configured handler (written to /dev/null)."""
    from app.security import access

    extra = {"request_id": "0123456789abcdef", "method": "POST", "route": TRIAGE_PATH, "status": 201, "ms": 1.23}
    return median_us(lambda: access.log.info("request", extra={**extra, "agent": "bench"}), n)


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
    from app.fhir.r4 import DEFAULT_MAX_DEPTH, check_structure, parse_json
    from app.main import create_app
    from app.services import services
    from app.settings import Settings
    from app.triage.fastpath import covers_structure
    from app.triage.scoring import score
    from app.triage.service import prepare

    app = create_app(Settings(database_url=database_url, log_level="INFO", webhook_dispatcher="off"))
    # the logs are formatted and written, as in production, to nowhere (open for the whole run)
    devnull = open(os.devnull, "w")  # noqa: ASYNC230, SIM115
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
            stored, triage=dataclasses.replace(stored.triage, writer=no_storage_writer)
        )
        try:
            for _ in range(200):
                await driver.post()
            no_storage = await amedian_us(driver.post, n)
            # The access line's cost in place (formatted and written amid a request, it costs
            # about three times what the same call costs in a tight loop).
            access_logger = logging.getLogger("lbp_triage.access")
            access_logger.disabled = True
            try:
                no_access_log = await amedian_us(driver.post, n)
            finally:
                access_logger.disabled = False
        finally:
            app.state.services = stored
        parse = median_us(lambda: parse_json(body), n)
        walk = median_us(lambda: check_structure(data), n)
        covered = median_us(lambda: covers_structure(data, DEFAULT_MAX_DEPTH), n)
        validate = median_us(lambda: score(data, True), n)  # the fast path already done, as in a request
        prepared_all = median_us(lambda: prepare(data, True), n)
        careplan = prepare(data).careplan
        dumps = median_us(lambda: orjson.dumps(careplan), n)
        logline = no_storage - no_access_log
        logline_alone = access_log_us(n)
        storage = storage_parts(stored.engine, stored.repository, n)
    render = prepared_all - validate
    routing = no_storage - parse - covered - prepared_all - dumps - logline
    writer_alone = storage["store"] + storage["insert"] + storage["commit"]
    hop = whole - no_storage - writer_alone
    return [
        ("routing + middleware (auth, audit context, metrics)", routing, "rest of no-storage"),
        ("body parse: orjson + duplicate keys (r4.parse_json)", parse, ""),
        ("fast path in place of the structure walk (covers_structure)", covered, ""),
        ("(structure walk, for bodies the fast path does not cover)", walk, "not in the sum"),
        ("validation + triage (Questionnaire rules, rules)", validate, "score(), fast path done"),
        ("render (ids, Encounter, CarePlan)", render, "prepare() − score()"),
        ("response JSON (orjson)", dumps, ""),
        ("access log line at INFO", logline, "no-storage − the same without the line"),
        ("access log line at INFO, the call alone in a loop", logline_alone, "(for reference)"),
        ("writer: store logic, one triage alone", storage["store"], "triage.service.store in the group"),
        ("writer: store logic, per triage in a group of 16", storage["store16"], ""),
        ("writer: inserts, one triage alone", storage["insert"], "encounter + audit"),
        ("writer: inserts, per triage in a group of 16", storage["insert16"], "one statement per table"),
        ("writer: commit, one triage alone", storage["commit"], ""),
        ("writer: commit, per triage in a group of 16", storage["commit16"], "group commit"),
        ("writer hop + wait (thread and loop wake-ups, futures)", hop, "rest of whole"),
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
        print(f"{name:62} {value:8.1f}  {note}")


if __name__ == "__main__":
    main()
