"""Memory of one API worker under a long run: ≤ 150 MB after 100,000 triages, and no growth
between 50,000 and 100,000 (quality.md).

Runs one uvicorn worker as in production (bench.load's settings: INFO logs, static-token
auth, audit on, SQLite unless --database is given), drives it with wrk in slices and reads
the worker's resident memory (VmRSS) after each slice, until --triages have been served.

    .venv/bin/python -m bench.memory [--triages 100000] [--database postgresql://…]
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
import tempfile

import orjson

from bench.budget import BENCH_SECRET_KEY, TOKEN, TOKENS, TRIAGE_PATH, bench_body
from bench.load import ROOT, ensure_wrk, free_port, migrated, rss_mib, start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--triages", type=int, default=100_000)
    parser.add_argument("--slice-seconds", type=int, default=10)
    parser.add_argument("--database", default=None, help="default: a fresh SQLite file")
    args = parser.parse_args()
    wrk_bin = ensure_wrk()
    with tempfile.TemporaryDirectory() as tmp:
        url = migrated(args.database or f"sqlite:///{tmp}/memory.db")
        env = {
            "PYTHONPATH": str(ROOT),
            "LBP_DATABASE_URL": url,
            "LBP_AUTH_MODE": "static",
            "LBP_SECRET_KEY": BENCH_SECRET_KEY,
            "LBP_AUTH_TOKENS": orjson.dumps(TOKENS).decode(),
            "LBP_AUTO_MIGRATE": "false",
            "LBP_RATE_LIMIT_PER_MINUTE": "0",
        }
        port = free_port()
        proc = start("app.main:app", port, env, tmp, 1, ROOT)
        script = os.path.join(tmp, "post.lua")
        with open(script, "w") as lua:
            lua.write(
                'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/fhir+json"\n'
                f'wrk.headers["Authorization"] = "Bearer {TOKEN}"\n'
                f"wrk.body = [==[{bench_body().decode()}]==]\n"
            )
        served, samples = 0, []
        try:
            print(f"{'triages':>9} {'RSS MiB':>8}")
            while served < args.triages:
                out = subprocess.run(
                    [
                        wrk_bin,
                        "-t1",
                        "-c16",
                        f"-d{args.slice_seconds}s",
                        "-s",
                        script,
                        f"http://127.0.0.1:{port}{TRIAGE_PATH}",
                    ],
                    capture_output=True,
                    text=True,
                    check=True,
                ).stdout
                served += int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
                errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
                if errors:
                    sys.exit(f"{errors.group(1)} requests failed")
                samples.append((served, rss_mib(proc.pid)))
                print(f"{served:9d} {samples[-1][1]:8.1f}", flush=True)
        finally:
            os.killpg(proc.pid, signal.SIGINT)
            proc.wait(timeout=30)
    half = next(rss for n, rss in samples if n >= args.triages // 2)
    final = samples[-1][1]
    print(
        f"\nRSS at {args.triages // 2:,}: {half:.1f} MiB; at {samples[-1][0]:,}: {final:.1f} MiB "
        f"(≤ 150: {'ok' if final <= 150 else 'MISS'}; growth {final - half:+.1f} MiB)"
    )


if __name__ == "__main__":
    main()
