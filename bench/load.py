"""Load benchmark: $triage with persistence against a plain FastAPI baseline, side by side.

Runs the service as production does — the default log level (INFO: every request logged,
as JSON, here to /dev/null), static-token authentication and the audit trail on — with
1 and then 2 uvicorn worker processes, each against the baseline served with the same
worker count. Each server is warmed up, then driven by wrk (16 connections, 10 s, the
same QuestionnaireResponse body, with a bearer token), and the table gives throughput,
p50 and p99 latency, and the ratios quality.md sets targets for:

    $triage ÷ baseline throughput     ≥ 0.5 on SQLite, ≥ 0.4 on PostgreSQL   (floor 0.30 / 0.25)
    $triage p99 ÷ baseline p99        ≤ 4                                     (floor 6)
    2 workers ÷ 1 worker ($triage)    ≥ 1.5

Then the per-part CPU budget of one request (bench.budget), so that a miss shows where
the time goes.

    .venv/bin/python -m bench.load [--duration 10] [--connections 16] [--workers 1,2]
                                   [--postgres URL | --no-postgres] [--no-budget] [--before CHECKOUT]

--before serves the app of another checkout (e.g. /path/to/main) too, in the same run,
for a before/after table measured side by side.

Needs `wrk` (Debian package `wrk`; installed here with apt-get when missing and run as root).
Figures taken on a busy machine are not worth much: ratios hold better than absolute
numbers, but only a quiet machine gives figures to decide on.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import httpx
import orjson

from bench.budget import BENCH_SECRET_KEY, TOKEN, TOKENS, TRIAGE_PATH, bench_body

ROOT = Path(__file__).resolve().parents[1]
TARGETS = {"SQLite": (0.5, 0.30), "PostgreSQL": (0.4, 0.25)}  # ratio target, and the floor
P99_TARGET, P99_FLOOR, SCALING_TARGET = 4.0, 6.0, 1.5


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() == 0 and shutil.which("apt-get"):
        print("installing wrk (apt-get install wrk)...", file=sys.stderr)
        subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True, stdout=subprocess.DEVNULL)
        return shutil.which("wrk") or sys.exit("wrk did not install")
    sys.exit("this benchmark needs wrk: apt-get install wrk")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_command(app_path: str, root: Path, port: int, workers: int) -> list[str]:
    """How a server is run. The service: as its checkout's Dockerfile runs it, but the worker
    count (`lbp-triage serve`, a listening socket per worker; a checkout from before that ran
    uvicorn itself). The baseline: the same stack at its best, uvicorn with a socket per worker
    as `serve` gives (bench/baseline.py), so that the 2-worker ratio compares like with like."""
    where = ["--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)]
    if app_path == "bench.baseline:app":
        return [sys.executable, "-m", "bench.baseline", *where]
    if "lbp-triage serve" in (root / "Dockerfile").read_text():
        return [sys.executable, "-m", "app.cli", "serve", *where, "--timeout-graceful-shutdown", "20"]
    return [sys.executable, "-m", "uvicorn", app_path, *where, "--no-access-log", "--timeout-graceful-shutdown", "20"]


def start(app_path: str, port: int, env: dict[str, str], cwd: str, workers: int, root: Path) -> subprocess.Popen:
    # Logs go to /dev/null (formatted and written all the same, as a collector would read them).
    command = server_command(app_path, root, port, workers)
    proc = subprocess.Popen(
        command,
        env={**os.environ, **env},
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    for _ in range(600):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return proc
        except OSError:
            time.sleep(0.05)
    proc.kill()
    sys.exit(f"{app_path} did not start")


def rss_mib(pid: int) -> float:
    """Resident memory of the largest worker process (the server itself with one worker)."""
    pids = [pid]
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        pids = [int(c) for c in children] or pids
    except OSError:
        pass
    sizes = []
    for one in pids:
        try:
            for line in Path(f"/proc/{one}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    sizes.append(int(line.split()[1]) / 1024)
        except OSError:
            pass
    return max(sizes, default=float("nan"))


def wrk(wrk_bin: str, url: str, body: bytes, duration: int, connections: int) -> dict[str, float]:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write('wrk.method = "POST"\n')
        script.write('wrk.headers["Content-Type"] = "application/fhir+json"\n')
        script.write(f'wrk.headers["Authorization"] = "Bearer {TOKEN}"\n')
        script.write(f"wrk.body = [==[{body.decode()}]==]\n")
    try:
        out = subprocess.run(
            [wrk_bin, "-t1", f"-c{connections}", f"-d{duration}s", "--latency", "-s", script.name, url],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    finally:
        os.unlink(script.name)

    def latency(label: str) -> float:
        match = re.search(rf"^\s+{label}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        value, unit = float(match.group(1)), match.group(2)  # type: ignore[union-attr]
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value

    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"rps": rps, "p50": latency("50"), "p99": latency("99"), "non2xx": float(errors.group(1)) if errors else 0.0}


def measure(
    app_path: str,
    path: str,
    env: dict[str, str],
    body: bytes,
    args: argparse.Namespace,
    wrk_bin: str,
    cwd: str,
    workers: int,
    root: Path = ROOT,
) -> dict[str, float]:
    port = free_port()
    proc = start(app_path, port, env, cwd, workers, root)
    try:
        url = f"http://127.0.0.1:{port}{path}"
        headers = {"Content-Type": "application/fhir+json", "Authorization": f"Bearer {TOKEN}"}
        for _ in range(200):  # every worker up (migrations ran before)
            if httpx.post(url, content=body, headers=headers).status_code < 300:
                break
            time.sleep(0.05)
        wrk(wrk_bin, url, body, max(2, args.duration // 3), args.connections)  # warm-up
        result = wrk(wrk_bin, url, body, args.duration, args.connections)
        result["rss"] = rss_mib(proc.pid)
        return result
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def create_database(admin_url: str) -> tuple[str, Callable[[], None]]:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    from app.store.db import normalise_url

    name = f"lbp_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(normalise_url(admin_url), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return make_url(admin_url).set(database=name).render_as_string(hide_password=False), drop


def migrated(url: str) -> str:
    """Migrate before the workers start (several workers would race to do it)."""
    from app.store import migrate
    from app.store.db import make_engine

    engine = make_engine(url)
    try:
        migrate.upgrade(engine)
    finally:
        engine.dispose()
    return url


def verdict(engine: str, ratio: float, p99_ratio: float) -> str:
    target, floor = TARGETS[engine]
    if ratio >= target and p99_ratio <= P99_TARGET:
        return "ok"
    if ratio >= floor and p99_ratio <= P99_FLOOR:
        return "floor"
    return "MISS"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--workers", default="1,2", help="comma-separated uvicorn worker counts")
    parser.add_argument(
        "--postgres",
        default="postgresql://postgres@127.0.0.1:5432/postgres",
        help="admin URL; a scratch database is created and dropped",
    )
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--no-budget", action="store_true")
    parser.add_argument(
        "--before",
        metavar="CHECKOUT",
        default=None,
        help="also serve the app of another checkout (e.g. main) in the same run: before/after",
    )
    args = parser.parse_args()
    wrk_bin = ensure_wrk()
    body = bench_body()  # no identifier: a new encounter each time
    worker_counts = [int(w) for w in args.workers.split(",")]
    production = {
        "PYTHONPATH": str(ROOT),
        "LBP_AUTH_MODE": "static",
        "LBP_SECRET_KEY": BENCH_SECRET_KEY,
        "LBP_AUTH_TOKENS": orjson.dumps(TOKENS).decode(),
        "LBP_AUTO_MIGRATE": "false",
        # One client drives all the load: the per-client rate limit would throttle it.
        "LBP_RATE_LIMIT_PER_MINUTE": "0",
    }

    results: dict[tuple[str, int], dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for workers in worker_counts:
            results[("baseline", workers)] = measure(
                "bench.baseline:app", "/echo", {}, body, args, wrk_bin, str(ROOT), workers
            )
            for tag, root in [("", ROOT)] + ([(" (before)", Path(args.before).resolve())] if args.before else []):
                served = {**production, "PYTHONPATH": str(root)}
                url = migrated(f"sqlite:///{tmp}/bench-{workers}{tag.strip(' ()')}.db")
                results[("SQLite" + tag, workers)] = measure(
                    "app.main:app",
                    TRIAGE_PATH,
                    {"LBP_DATABASE_URL": url, **served},
                    body,
                    args,
                    wrk_bin,
                    tmp,
                    workers,
                    root,
                )
                if not args.no_postgres:
                    url, drop = create_database(args.postgres)
                    try:
                        results[("PostgreSQL" + tag, workers)] = measure(
                            "app.main:app",
                            TRIAGE_PATH,
                            {"LBP_DATABASE_URL": migrated(url), **served},
                            body,
                            args,
                            wrk_bin,
                            tmp,
                            workers,
                            root,
                        )
                    finally:
                        drop()

    print(
        f"\n{args.connections} connections, {args.duration} s; the service as in production "
        "(log level INFO, static-token auth, audit on); each row against the baseline with its worker count\n"
    )
    print(
        f"{'':39} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'non-2xx':>8} {'RSS MiB':>8} "
        f"{'÷ base':>7} {'p50 ÷':>6} {'p99 ÷':>6} {'target':>12} {'':>6}"
    )
    for (name, workers), r in results.items():
        base = results[("baseline", workers)]
        label = f"{'baseline (json.loads echo)' if name == 'baseline' else '$triage on ' + name}, {workers}w"
        ratio, p50_ratio, p99_ratio = r["rps"] / base["rps"], r["p50"] / base["p50"], r["p99"] / base["p99"]
        if name == "baseline":
            target, mark = "", ""
        else:
            engine = name.split(" ")[0]
            target = f"≥{TARGETS[engine][0]} p99≤{P99_TARGET:g}"
            mark = verdict(engine, ratio, p99_ratio)
        print(
            f"{label:39} {r['rps']:8.0f} {r['p50']:8.2f} {r['p99']:8.2f} {r['non2xx']:8.0f} {r['rss']:8.1f} "
            f"{ratio:7.2f} {p50_ratio:6.2f} {p99_ratio:6.2f} {target:>12} {mark:>6}"
        )
    if len(worker_counts) > 1:
        low, high = min(worker_counts), max(worker_counts)
        print(f"\n{high} workers ÷ {low} (target ≥ {SCALING_TARGET} for $triage):")
        for name in ("baseline", "SQLite", "PostgreSQL", "SQLite (before)", "PostgreSQL (before)"):
            if (name, low) in results and (name, high) in results:
                scaling = results[(name, high)]["rps"] / results[(name, low)]["rps"]
                mark = "" if name == "baseline" else ("ok" if scaling >= SCALING_TARGET else "MISS")
                print(f"  {name:20} {scaling:5.2f} {mark}")
    print("\nok: target met; floor: only the fallback floor (ratio ≥ 0.30 SQLite / 0.25 PostgreSQL, p99 ≤ 6×)")
    sys.stdout.flush()
    if not args.no_budget:
        subprocess.run([sys.executable, "-m", "bench.budget", "--requests", "3000"], cwd=ROOT, check=False)


if __name__ == "__main__":
    main()
