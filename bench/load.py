"""Load benchmark: $triage with persistence against a plain FastAPI baseline, side by side.

Starts each server with the same uvicorn flags (one worker), warms it up, then drives it
with wrk (16 connections, 10 s, the same QuestionnaireResponse body) and prints throughput,
p50 and p99 latency and the ratios that quality.md sets targets for:

    $triage ÷ baseline throughput     ≥ 0.5 on SQLite, ≥ 0.4 on PostgreSQL
    $triage p99                       ≤ 4 × baseline p99

    .venv/bin/python -m bench.load [--duration 10] [--connections 16] [--postgres URL | --no-postgres]

Needs `wrk` (Debian package `wrk`; installed here with apt-get when missing and run as root).
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
from pathlib import Path

import httpx
import orjson

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "app/fhir/data/examples/self-care.json"


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


def start(app_path: str, port: int, env: dict[str, str], cwd: str) -> subprocess.Popen:
    command = [sys.executable, "-m", "uvicorn", app_path, "--host", "127.0.0.1", "--port", str(port),
               "--workers", "1", "--no-access-log", "--log-level", "warning"]
    proc = subprocess.Popen(command, env={**os.environ, **env}, cwd=cwd)
    for _ in range(200):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return proc
        except OSError:
            time.sleep(0.05)
    proc.kill()
    sys.exit(f"{app_path} did not start")


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def wrk(wrk_bin: str, url: str, body: bytes, duration: int, connections: int) -> dict[str, float]:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write('wrk.method = "POST"\n')
        script.write('wrk.headers["Content-Type"] = "application/fhir+json"\n')
        script.write(f"wrk.body = [==[{body.decode()}]==]\n")
    try:
        out = subprocess.run([wrk_bin, "-t1", f"-c{connections}", f"-d{duration}s", "--latency",
                              "-s", script.name, url], capture_output=True, text=True, check=True).stdout
    finally:
        os.unlink(script.name)

    def latency(label: str) -> float:
        match = re.search(rf"^\s+{label}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        value, unit = float(match.group(1)), match.group(2)  # type: ignore[union-attr]
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value

    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"rps": rps, "p50": latency("50"), "p99": latency("99"),
            "non2xx": float(errors.group(1)) if errors else 0.0}


def measure(name: str, app_path: str, path: str, env: dict[str, str], body: bytes, args, wrk_bin: str,
            cwd: str) -> dict[str, float]:
    port = free_port()
    proc = start(app_path, port, env, cwd)
    try:
        url = f"http://127.0.0.1:{port}{path}"
        for _ in range(200):  # a first request (migrations ran at start-up)
            if httpx.post(url, content=body, headers={"Content-Type": "application/fhir+json"}).status_code < 300:
                break
        wrk(wrk_bin, url, body, max(2, args.duration // 3), args.connections)  # warm-up
        result = wrk(wrk_bin, url, body, args.duration, args.connections)
        result["rss"] = rss_mib(proc.pid)
        return result
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)


def create_database(admin_url: str) -> tuple[str, callable]:
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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/postgres",
                        help="admin URL; a scratch database is created and dropped")
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()
    wrk_bin = ensure_wrk()
    body = orjson.dumps(orjson.loads(EXAMPLE.read_bytes()) | {"identifier": None})
    body = orjson.dumps({k: v for k, v in orjson.loads(body).items() if v is not None})  # new encounter each time

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        baseline = measure("baseline", "bench.baseline:app", "/echo", {}, body, args, wrk_bin, str(ROOT))
        rows.append(("baseline (FastAPI json.loads echo)", baseline, None))
        # One client drives all the load: the per-client rate limit would throttle it.
        common = {"PYTHONPATH": str(ROOT), "LBP_RATE_LIMIT_PER_MINUTE": "0", "LBP_LOG_LEVEL": "WARNING"}
        sqlite_env = {"LBP_DATABASE_URL": f"sqlite:///{tmp}/bench.db", **common}
        triage_path = "/fhir/QuestionnaireResponse/$triage"
        sqlite = measure("sqlite", "app.main:app", triage_path, sqlite_env, body, args, wrk_bin, tmp)
        rows.append(("$triage on SQLite", sqlite, 0.5))
        if not args.no_postgres:
            url, drop = create_database(args.postgres)
            try:
                pg_env = {"LBP_DATABASE_URL": url, "LBP_AUTO_MIGRATE": "true", **common}
                pg = measure("postgresql", "app.main:app", triage_path, pg_env, body, args, wrk_bin, tmp)
                rows.append(("$triage on PostgreSQL", pg, 0.4))
            finally:
                drop()

    print(f"\n{args.connections} connections, {args.duration} s, one uvicorn worker each\n")
    print(f"{'':36} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'non-2xx':>8} {'RSS MiB':>8} "
          f"{'÷ base':>7} {'target':>7} {'p99 ÷ base':>10}")
    for name, r, target in rows:
        ratio = r["rps"] / baseline["rps"]
        p99_ratio = r["p99"] / baseline["p99"]
        verdict = "" if target is None else ("ok" if ratio >= target and p99_ratio <= 4 else "MISS")
        print(f"{name:36} {r['rps']:8.0f} {r['p50']:8.2f} {r['p99']:8.2f} {r['non2xx']:8.0f} {r['rss']:8.1f} "
              f"{ratio:7.2f} {('≥' + str(target)) if target else '':>7} {p99_ratio:10.2f} {verdict}")


if __name__ == "__main__":
    main()
