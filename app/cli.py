"""The `lbp-triage` command line.

    lbp-triage score FILE|-        QuestionnaireResponse JSON, or NDJSON (one per line), to CarePlan(s)
    lbp-triage explain FILE|-      one QuestionnaireResponse: each finding, the answers behind it and
                                   its rule's source (a FHIR Parameters resource)
    lbp-triage questionnaire [--version V]   print the triage Questionnaire (default: current)
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
from collections.abc import Iterator
from typing import IO, Any

import orjson

from app.fhir.outcome import Fault, Rejected, operation_outcome

EXIT_OK, EXIT_REJECTED, EXIT_USAGE = 0, 1, 2


def _score_one(data: Any) -> tuple[dict[str, Any], bool]:
    from app.triage.scoring import careplan_for, score

    try:
        return careplan_for(score(data)), True
    except Rejected as rejected:
        return operation_outcome(rejected.faults), False


def _parse(raw: bytes) -> Any:
    """One response, held to the same rules as over HTTP: no duplicate keys, valid R4 JSON."""
    from app.fhir.r4 import check_structure, parse_json

    data = parse_json(raw)
    if isinstance(data, dict) and data.get("resourceType") == "QuestionnaireResponse":
        check_structure(data)
    return data


def _outcome_with_line(rejected: Rejected, line_no: int) -> dict[str, Any]:
    faults = [Fault(f.code, f"Line {line_no}: {f.diagnostics}", f.expression, f.severity) for f in rejected.faults]
    return operation_outcome(faults)


def score_ndjson(lines: Iterator[bytes], out: IO[bytes], progress: Any = None) -> tuple[int, int]:
    from app.triage.scoring import careplan_for, score

    scored = rejected = 0
    for line_no, raw in enumerate(lines, start=1):
        if progress is not None:
            progress.update(len(raw))
        try:
            if not raw.strip():  # answered too, so that output line N still answers input line N
                raise Rejected([Fault("required", "The line is empty.")], 400)
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
    stream = open(path, "rb")  # noqa: SIM115 — handed to the caller, which closes it (with stream:)
    return stream, os.fstat(stream.fileno()).st_size


def cmd_score(args: argparse.Namespace) -> int:
    try:
        stream, size = _open_input(args.file)
    except OSError as exc:
        print(f"lbp-triage: cannot read {args.file}: {exc.strerror}", file=sys.stderr)
        return EXIT_USAGE
    try:
        # SIM115 allowed below: stdout or a file, written until the command returns; the process exit closes it
        out = open(args.output, "wb") if args.output else sys.stdout.buffer  # noqa: SIM115
    except OSError as exc:
        stream.close()
        print(f"lbp-triage: cannot write {args.output}: {exc.strerror}", file=sys.stderr)
        return EXIT_USAGE
    with stream:
        first = stream.readline()
        # Look past blank lines for a second document: NDJSON may have gaps.
        ahead = [stream.readline()]
        while ahead[-1] and not ahead[-1].strip():
            ahead.append(stream.readline())
        ndjson = args.format == "ndjson" or (
            args.format == "auto" and bool(ahead[-1].strip()) and _is_complete_json(first)
        )
        if ndjson:
            progress = _progress_bar(args, size)
            scored, rejected = score_ndjson(_chain([first, *ahead], stream), out, progress)
            if progress is not None:
                progress.close()
            print(f"lbp-triage: {scored} triaged, {rejected} rejected", file=sys.stderr)
            out.flush()
            return EXIT_REJECTED if rejected else EXIT_OK
        body = first + b"".join(ahead) + stream.read()
    try:
        resource, ok = _score_one(_parse(body))
    except Rejected as exc:
        resource, ok = operation_outcome(exc.faults), False
    out.write(orjson.dumps(resource, option=orjson.OPT_INDENT_2))
    out.write(b"\n")
    out.flush()
    if not ok and args.output:  # the answer went to a file: say on the terminal why it was rejected
        print(f"lbp-triage: rejected; the OperationOutcome is in {args.output}:", file=sys.stderr)
        for issue in resource["issue"]:
            where = f" ({', '.join(issue['expression'])})" if issue.get("expression") else ""
            print(f"  {issue['severity']} {issue['code']}{where}: {issue.get('diagnostics', '')}", file=sys.stderr)
    return EXIT_OK if ok else EXIT_REJECTED


def _chain(read: list[bytes], stream: IO[bytes]) -> Iterator[bytes]:
    yield from (line for line in read if line)
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


def cmd_explain(args: argparse.Namespace) -> int:
    from app.triage.explain import explain_response

    try:
        stream, _ = _open_input(args.file)
    except OSError as exc:
        print(f"lbp-triage: cannot read {args.file}: {exc.strerror}", file=sys.stderr)
        return EXIT_USAGE
    with stream:
        body = stream.read()
    try:
        resource, status = explain_response(_parse(body)), EXIT_OK
    except Rejected as exc:
        resource, status = operation_outcome(exc.faults), EXIT_REJECTED
    sys.stdout.buffer.write(orjson.dumps(resource, option=orjson.OPT_INDENT_2) + b"\n")
    return status


def cmd_questionnaire(args: argparse.Namespace) -> int:
    from app.fhir.questionnaire import CURRENT_VERSION, VERSIONS, questionnaire

    version = args.version or CURRENT_VERSION
    if version not in VERSIONS:
        print(f"lbp-triage: no Questionnaire version {version!r}; known: {', '.join(VERSIONS)}", file=sys.stderr)
        return EXIT_USAGE
    sys.stdout.buffer.write(orjson.dumps(questionnaire(version), option=orjson.OPT_INDENT_2) + b"\n")
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
    import shutil
    import tempfile

    from app.kit.workers import serve

    made = None
    if args.workers > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        # Worker processes share their counters through files here, so that /metrics,
        # whichever worker answers it, sums them all (prometheus_client's multiprocess mode).
        made = tempfile.mkdtemp(prefix="lbp-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = made
        print(
            f"lbp-triage: {args.workers} workers share their metrics in {made} (PROMETHEUS_MULTIPROC_DIR)",
            file=sys.stderr,
        )
    options: dict[str, Any] = {
        "host": args.host,
        "port": args.port,
        "workers": args.workers,
        # X-Forwarded-* are the service's to judge (LBP_TRUSTED_PROXIES): uvicorn would believe them
        # from any loopback peer.
        "proxy_headers": False,
        # the service writes its own access line (app/security/access.py); uvicorn's prints raw paths
        "access_log": False,
        "log_level": "info",
        "timeout_graceful_shutdown": args.timeout_graceful_shutdown,
    }
    try:
        serve("app.main:app", **options)  # several workers: a listening socket each (app/kit/workers.py)
    finally:
        if made:
            shutil.rmtree(made, ignore_errors=True)
    return EXIT_OK


def cmd_migrate(args: argparse.Namespace) -> int:
    from app.kit.keyring import KeyConfigurationError, SealedValueError
    from app.settings import get_settings, keyring_for
    from app.store import migrate
    from app.store.db import make_engine
    from app.subscriptions.sealing import rewrap_all

    settings = get_settings()
    try:
        keyring = keyring_for(settings)
    except KeyConfigurationError as exc:
        print(f"lbp-triage: cannot migrate: {exc}", file=sys.stderr)
        return EXIT_USAGE
    engine = make_engine(settings.database_url)
    try:
        if args.revision.startswith("-") or args.downgrade:
            migrate.downgrade(engine, args.revision, keyring)
        else:
            migrate.upgrade(engine, args.revision, keyring)
            if migrate.is_up_to_date(engine):
                # After a key rotation (or a rolling upgrade): every secret sealed under the
                # first LBP_SECRET_KEY.
                rewrapped = rewrap_all(engine, keyring)
                if rewrapped:
                    print(
                        f"lbp-triage: re-wrapped the secrets of {rewrapped} subscription(s) under key "
                        f"{keyring.primary_id}",
                        file=sys.stderr,
                    )
        print(f"lbp-triage: database at revision {migrate.current_revision(engine) or 'base'}", file=sys.stderr)
    except SealedValueError as exc:
        print(f"lbp-triage: cannot migrate: {exc}", file=sys.stderr)
        return EXIT_USAGE
    finally:
        engine.dispose()
    return EXIT_OK


def cmd_worker(args: argparse.Namespace) -> int:
    import asyncio
    import signal

    from app.kit.keyring import KeyConfigurationError
    from app.kit.logs import configure_logging
    from app.settings import get_settings, keyring_for
    from app.store import migrate
    from app.store.db import make_engine
    from app.subscriptions.dispatcher import Dispatcher

    settings = get_settings()
    # As the API logs: basicConfig's format would drop every `extra=` field (subscription, status, error).
    configure_logging(settings.log_level, settings.log_format)
    try:
        keyring = keyring_for(settings)
    except KeyConfigurationError as exc:
        print(f"lbp-triage: cannot start the worker: {exc}", file=sys.stderr)
        return 3  # as the API: a configuration error, not worth restarting for
    engine = make_engine(settings.database_url, settings.db_pool_size, settings.db_timeout_seconds)
    dispatcher = Dispatcher(engine, settings, ready=lambda: migrate.is_up_to_date(engine), keyring=keyring)
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
    score.add_argument(
        "--format", choices=("auto", "json", "ndjson"), default="auto", help="input format (default: detect)"
    )
    score.add_argument(
        "--progress",
        dest="progress",
        action="store_true",
        default=None,
        help="show a progress bar (default: when standard error is a terminal)",
    )
    score.add_argument("--no-progress", dest="progress", action="store_false")
    score.set_defaults(func=cmd_score)

    explain = sub.add_parser(
        "explain",
        help="explain one triage: each finding, the answers that fired it "
        "and its rule's source, as a FHIR Parameters resource",
    )
    explain.add_argument("file", help="a QuestionnaireResponse .json file, or - for standard input")
    explain.set_defaults(func=cmd_explain)

    q = sub.add_parser("questionnaire", help="print the triage Questionnaire")
    q.add_argument("--version", help="1.0.0 or 2.0.0 (default: the current one)")
    q.set_defaults(func=cmd_questionnaire)

    cs = sub.add_parser("codesystem", help="print the project's CodeSystems")
    cs.add_argument("id", nargs="?", help="lbp-triage or lbp-triage-answers")
    cs.set_defaults(func=cmd_codesystem)

    serve = sub.add_parser("serve", help="run the HTTP service (uvicorn app.main:app)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1)
    serve.add_argument(
        "--timeout-graceful-shutdown",
        type=int,
        default=None,
        metavar="SECONDS",
        help="on SIGTERM, how long requests in flight may take to finish (default: as long as they take)",
    )
    serve.set_defaults(func=cmd_serve)

    mig = sub.add_parser("migrate", help="migrate the database at LBP_DATABASE_URL (to the latest by default)")
    mig.add_argument("revision", nargs="?", default="head")
    mig.add_argument("--downgrade", action="store_true", help="go down to REVISION (e.g. base)")
    mig.set_defaults(func=cmd_migrate)

    worker = sub.add_parser(
        "worker",
        help="deliver webhooks from the outbox (run with LBP_WEBHOOK_DISPATCHER=off "
        "on the API); several may run side by side on PostgreSQL",
    )
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
