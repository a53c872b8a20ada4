"""The `lbp-triage` command line.

    lbp-triage score FILE|-        QuestionnaireResponse JSON, or NDJSON (one per line), to CarePlan(s)
    lbp-triage questionnaire       print the triage Questionnaire
    lbp-triage codesystem [ID]     print the project's CodeSystems
    lbp-triage serve [--host H --port P]   run the HTTP service
    lbp-triage migrate [REVISION]          migrate the database (LBP_DATABASE_URL)
    lbp-triage worker              deliver webhooks from the outbox (see the webhook settings)

NDJSON is streamed line by line, so memory stays flat whatever the file size. Output
line N answers input line N: a CarePlan, or an OperationOutcome for a rejected line.
The exit status is 0 when every response was triaged, 1 when any was rejected.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import IO, Any, Iterator

import orjson

from app.fhir.outcome import Fault, Rejected, operation_outcome

EXIT_OK, EXIT_REJECTED, EXIT_USAGE = 0, 1, 2


def _score_one(data: Any) -> tuple[dict[str, Any], bool]:
    from app.scoring import careplan_for, score

    try:
        return careplan_for(score(data)), True
    except Rejected as rejected:
        return operation_outcome(rejected.faults), False


def _parse(raw: bytes) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise Rejected([Fault("structure", "The input is not valid JSON.")], 400) from None


def _outcome_with_line(rejected: Rejected, line_no: int) -> dict[str, Any]:
    faults = [Fault(f.code, f"Line {line_no}: {f.diagnostics}", f.expression, f.severity) for f in rejected.faults]
    return operation_outcome(faults)


def score_ndjson(lines: Iterator[bytes], out: IO[bytes], progress: Any = None) -> tuple[int, int]:
    from app.scoring import careplan_for, score

    scored = rejected = 0
    for line_no, raw in enumerate(lines, start=1):
        if progress is not None:
            progress.update(len(raw))
        if not raw.strip():
            continue
        try:
            resource = careplan_for(score(_parse(raw)))
            scored += 1
        except Rejected as exc:
            resource = _outcome_with_line(exc, line_no)
            rejected += 1
        out.write(orjson.dumps(resource))
        out.write(b"\n")
    return scored, rejected


def _open_input(path: str) -> tuple[IO[bytes], int | None]:
    if path == "-":
        return sys.stdin.buffer, None
    stream = open(path, "rb")
    return stream, os.fstat(stream.fileno()).st_size


def cmd_score(args: argparse.Namespace) -> int:
    try:
        stream, size = _open_input(args.file)
    except OSError as exc:
        print(f"lbp-triage: cannot read {args.file}: {exc.strerror}", file=sys.stderr)
        return EXIT_USAGE
    out = open(args.output, "wb") if args.output else sys.stdout.buffer
    with stream:
        first = stream.readline()
        rest = stream.readline()
        ndjson = args.format == "ndjson" or (
            args.format == "auto" and bool(rest.strip()) and _is_complete_json(first)
        )
        if ndjson:
            progress = _progress_bar(args, size)
            scored, rejected = score_ndjson(_chain(first, rest, stream), out, progress)
            if progress is not None:
                progress.close()
            print(f"lbp-triage: {scored} triaged, {rejected} rejected", file=sys.stderr)
            out.flush()
            return EXIT_REJECTED if rejected else EXIT_OK
        body = first + rest + stream.read()
    try:
        resource, ok = _score_one(_parse(body))
    except Rejected as exc:
        resource, ok = operation_outcome(exc.faults), False
    out.write(orjson.dumps(resource, option=orjson.OPT_INDENT_2))
    out.write(b"\n")
    out.flush()
    return EXIT_OK if ok else EXIT_REJECTED


def _chain(first: bytes, second: bytes, stream: IO[bytes]) -> Iterator[bytes]:
    yield first
    if second:
        yield second
    yield from stream


def _is_complete_json(line: bytes) -> bool:
    try:
        return isinstance(orjson.loads(line), dict)
    except orjson.JSONDecodeError:
        return False


def _progress_bar(args: argparse.Namespace, size: int | None) -> Any:
    show = args.progress if args.progress is not None else sys.stderr.isatty()
    if not show:
        return None
    from tqdm import tqdm

    return tqdm(total=size, unit="B", unit_scale=True, unit_divisor=1024, desc="triage", file=sys.stderr)


def cmd_questionnaire(args: argparse.Namespace) -> int:
    from app.fhir.questionnaire import questionnaire

    sys.stdout.buffer.write(orjson.dumps(questionnaire(), option=orjson.OPT_INDENT_2) + b"\n")
    return EXIT_OK


def cmd_codesystem(args: argparse.Namespace) -> int:
    from app.fhir.codesystem import codesystems

    systems = codesystems()
    if args.id and args.id not in systems:
        print(f"lbp-triage: no CodeSystem {args.id!r}; known: {', '.join(systems)}", file=sys.stderr)
        return EXIT_USAGE
    chosen = [systems[args.id]] if args.id else list(systems.values())
    for cs in chosen:
        sys.stdout.buffer.write(orjson.dumps(cs, option=orjson.OPT_INDENT_2) + b"\n")
    return EXIT_OK


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    uvicorn.run("app.main:app", host=args.host, port=args.port, workers=args.workers,
                # X-Forwarded-* are the service's to judge (LBP_TRUSTED_PROXIES): uvicorn would believe them
                # from any loopback peer.
                proxy_headers=False, log_level="info")
    return EXIT_OK


def cmd_migrate(args: argparse.Namespace) -> int:
    from app.settings import get_settings
    from app.store import migrate
    from app.store.db import make_engine

    engine = make_engine(get_settings().database_url)
    try:
        if args.revision.startswith("-") or args.downgrade:
            migrate.downgrade(engine, args.revision)
        else:
            migrate.upgrade(engine, args.revision)
        print(f"lbp-triage: database at revision {migrate.current_revision(engine) or 'base'}", file=sys.stderr)
    finally:
        engine.dispose()
    return EXIT_OK


def cmd_worker(args: argparse.Namespace) -> int:
    import asyncio
    import logging
    import signal

    from app.settings import get_settings
    from app.store import migrate
    from app.store.db import make_engine
    from app.webhooks.dispatcher import Dispatcher

    settings = get_settings()
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s")
    engine = make_engine(settings.database_url, settings.db_pool_size, settings.db_timeout_seconds)
    dispatcher = Dispatcher(engine, settings, ready=lambda: migrate.is_up_to_date(engine))
    if args.metrics_port:
        from prometheus_client import start_http_server

        start_http_server(args.metrics_port, addr=args.metrics_host)  # the webhook counters of this worker

    async def run() -> None:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, dispatcher.stop)  # finish the deliveries in flight, then exit
        await dispatcher.run()

    try:
        try:
            import uvloop
        except ImportError:
            asyncio.run(run())
        else:
            uvloop.run(run())
    finally:
        engine.dispose()
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lbp-triage", description="Low back pain triage (FHIR R4).")
    sub = parser.add_subparsers(dest="command", required=True)

    score = sub.add_parser("score", help="triage QuestionnaireResponse JSON or NDJSON into CarePlans")
    score.add_argument("file", help="a .json or .ndjson file, or - for standard input")
    score.add_argument("-o", "--output", help="write here instead of standard output")
    score.add_argument("--format", choices=("auto", "json", "ndjson"), default="auto",
                       help="input format (default: detect)")
    score.add_argument("--progress", dest="progress", action="store_true", default=None,
                       help="show a progress bar (default: when standard error is a terminal)")
    score.add_argument("--no-progress", dest="progress", action="store_false")
    score.set_defaults(func=cmd_score)

    q = sub.add_parser("questionnaire", help="print the triage Questionnaire")
    q.set_defaults(func=cmd_questionnaire)

    cs = sub.add_parser("codesystem", help="print the project's CodeSystems")
    cs.add_argument("id", nargs="?", help="lbp-triage or lbp-triage-answers")
    cs.set_defaults(func=cmd_codesystem)

    serve = sub.add_parser("serve", help="run the HTTP service (uvicorn app.main:app)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1)
    serve.set_defaults(func=cmd_serve)

    mig = sub.add_parser("migrate", help="migrate the database at LBP_DATABASE_URL (to the latest by default)")
    mig.add_argument("revision", nargs="?", default="head")
    mig.add_argument("--downgrade", action="store_true", help="go down to REVISION (e.g. base)")
    mig.set_defaults(func=cmd_migrate)

    worker = sub.add_parser("worker", help="deliver webhooks from the outbox (run with LBP_WEBHOOK_DISPATCHER=off "
                            "on the API); several may run side by side on PostgreSQL")
    worker.add_argument("--metrics-port", type=int, help="serve this worker's Prometheus metrics on this port")
    worker.add_argument("--metrics-host", default="0.0.0.0", help="address for --metrics-port (default: all)")
    worker.set_defaults(func=cmd_worker)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except BrokenPipeError:  # e.g. piped into `head`
        return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
