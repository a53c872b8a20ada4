"""Benchmark: the batch CLI on a generated NDJSON file, end to end, one process (one core).

Target (quality.md): ≥ 5,000 responses per second per core. Also reports peak memory
(ru_maxrss) of the CLI process, which must stay flat as the file grows (it streams).

    .venv/bin/python -m bench.cli [--n 10000]
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import tempfile
import time

import orjson

from bench.common import random_response


def run_cli(path: str) -> tuple[float, float]:
    start = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "score", path, "-o", os.devnull, "--no-progress"],
        stderr=subprocess.PIPE,
    )
    _, rusage = os.wait4(proc.pid, 0)[1:]
    elapsed = time.perf_counter() - start
    return elapsed, rusage.ru_maxrss / 1024  # MiB


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=10000)
    args = parser.parse_args()
    rng = random.Random(11)
    with tempfile.TemporaryDirectory() as tmp:
        sizes = sorted({args.n, args.n * 5})
        print(f"{'responses':>10} {'seconds':>8} {'per second':>11} {'peak MiB':>9} {'target':>7}")
        for n in sizes:
            path = os.path.join(tmp, f"responses-{n}.ndjson")
            with open(path, "wb") as f:
                for i in range(n):
                    f.write(orjson.dumps(random_response(rng, i)) + b"\n")
            elapsed, peak = run_cli(path)
            per_second = n / elapsed
            verdict = "ok" if per_second >= 5000 else "BELOW"
            print(f"{n:>10} {elapsed:8.2f} {per_second:11,.0f} {peak:9.1f} {verdict:>7}")


if __name__ == "__main__":
    main()
