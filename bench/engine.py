"""Benchmark: the triage engine alone (parsed answers → plan), in-process, one core.

Also times the whole in-process pipeline (validation → engine → CarePlan dict → JSON)
to show where time goes. Target (quality.md): engine ≥ 50,000 per second per core.

    .venv/bin/python -m bench.engine [--n 20000]
"""

from __future__ import annotations

import argparse
import random
import time

import orjson

from app.scoring import careplan_for, score
from app.triage import triage
from bench.common import random_answers, random_response


def rate(fn, inputs) -> float:
    start = time.perf_counter()
    for x in inputs:
        fn(x)
    return len(inputs) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=20000)
    args = parser.parse_args()
    rng = random.Random(7)
    answers = [random_answers(rng) for _ in range(args.n)]
    responses = [random_response(rng, i) for i in range(args.n // 4)]
    raw = [orjson.dumps(r) for r in responses]
    warm_up = random.Random(8)  # other inputs than the measured ones
    rate(triage, [random_answers(warm_up) for _ in range(5000)])

    rows = [
        ("engine: answers → TriageResult (plan)", rate(triage, answers), 50000),
        ("validate (fast path + Questionnaire) → triage", rate(score, responses), None),
        ("bytes → parse → validate → triage → CarePlan → bytes",
         rate(lambda b: orjson.dumps(careplan_for(score(orjson.loads(b)))), raw), None),
    ]
    print(f"{'measure':58} {'per second':>12} {'target':>9}")
    for name, value, target in rows:
        verdict = "" if target is None else (" ok" if value >= target else " BELOW")
        print(f"{name:58} {value:12,.0f} {target or '':>9}{verdict}")


if __name__ == "__main__":
    main()
