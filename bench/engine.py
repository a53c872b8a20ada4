"""Benchmark: the triage engine alone (parsed answers → plan), in-process, one core, and where
the time of the whole in-process pipeline goes, for rules 1 and rules 2 side by side.

Each part is timed on realistic responses (bench.common) for both rules versions, in interleaved
rounds, each round on responses no cache has seen yet; the best round counts, so that a busy
machine disturbs the figures less. (The parts are timed one after another on the same inputs,
so a part timed after another may find a cache it fills warm, as the whole pipeline would; the
engine alone is timed first, on answers no triage has seen.)
Target (quality.md): engine ≥ 50,000 per second per core.

    .venv/bin/python -m bench.engine [--n 4000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import random
import time
from collections.abc import Callable
from functools import partial
from typing import Any

import orjson

from app.rules import triage
from app.rules.engine import decide, find
from app.rules.plan import PlanFacts
from app.rules.rulesets import RULESETS
from app.triage.careplan import render_careplan
from app.triage.narrative import careplan_div
from app.triage.scoring import careplan_for, score
from app.triage.validation import check_against_questionnaire, check_fhir
from bench.common import random_response

VERSIONS = ("1.0.0", "2.0.0")
ENGINE_TARGET = 50000
ENGINE = "ENGINE: answers → TriageResult"


def parts(version: str, responses: list[dict[str, Any]]) -> list[tuple[str, Callable[[Any], Any], list[Any]]]:
    """(name, function, inputs) for each part of the pipeline, inputs prepared beforehand."""
    rules = RULESETS[version]
    scored = [score(r) for r in responses]
    answers = [s.response.answers for s in scored]
    results = [s.result for s in scored]
    facts = []
    for a, result in zip(answers, results, strict=True):
        scores = rules.stratification(a)
        facts.append(
            PlanFacts.of(result.disposition, result.preference, result.findings, a, scores.risk if scores else None)
        )
    rendered = [careplan_for(s, created="2026-11-25T10:00:00.000Z") for s in scored]
    raw = [orjson.dumps(r) for r in responses]
    return [
        ("R4 structure (fast path)", check_fhir, responses),
        ("Questionnaire validation", check_against_questionnaire, responses),
        ("findings", lambda a: find(a, rules), answers),
        ("disposition", lambda a: decide(find(a, rules)), answers),
        ("preference", rules.preference, answers),
        ("STarT Back", rules.stratification, answers),
        (
            "plan facts",
            lambda x: PlanFacts.of(x[1].disposition, x[1].preference, x[1].findings, x[0]),
            list(zip(answers, results, strict=True)),
        ),
        ("plan (activities + medicines)", lambda f: (rules.planner.plan(f), rules.medicine_decisions(f)), facts),
        ("narrative", lambda s: careplan_div(s.result, s.response.answers), scored),
        (
            "CarePlan render (with narrative)",
            lambda s: render_careplan(s.result, s.response.subject, answers=s.response.answers),
            scored,
        ),
        ("orjson.dumps(CarePlan)", orjson.dumps, rendered),
        ("validate → triage", score, responses),
        ("bytes → CarePlan bytes", lambda b: orjson.dumps(careplan_for(score(orjson.loads(b)))), raw),
    ]


def seconds_each(fn: Callable[[Any], Any], inputs: list[Any]) -> float:
    start = time.perf_counter()
    for x in inputs:
        fn(x)
    return (time.perf_counter() - start) / len(inputs)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=4000, help="responses per rules version")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    best: dict[tuple[str, str], float] = {}
    warm_up = random.Random(8)  # other inputs than the measured ones
    for version in VERSIONS:
        for s in (score(random_response(warm_up, i, version)) for i in range(2000)):
            careplan_for(s)
    for round_ in range(args.rounds):  # interleaved: each round times every part of both versions
        for version in VERSIONS:
            # Inputs no cache has seen (a new seed each round): the figures are those of new
            # patients, not of the same responses over again.
            rng = random.Random(7 + round_)
            responses = [random_response(rng, i, version) for i in range(args.n)]
            answers = [check_against_questionnaire(r).answers for r in responses]
            rules = RULESETS[version]
            t = seconds_each(partial(triage, rules=rules), answers)  # first: before anything fills a cache
            best[version, ENGINE] = min(t, best.get((version, ENGINE), t))
            table = parts(version, responses)
            for name, fn, inputs in table:
                t = seconds_each(fn, inputs)
                best[version, name] = min(t, best.get((version, name), t))

    names = [ENGINE] + [name for name, _, _ in table]
    print(
        f"{'part (best of ' + str(args.rounds) + ' rounds)':34}"
        + "".join(f" {'rules ' + v[0] + ' µs':>11} {'per second':>11}" for v in VERSIONS)
    )
    for name in names:
        print(f"{name:34}" + "".join(f" {best[v, name] * 1e6:11.2f} {1 / best[v, name]:11,.0f}" for v in VERSIONS))
    for v in VERSIONS:
        engine = 1 / best[v, ENGINE]
        verdict = "ok" if engine >= ENGINE_TARGET else "BELOW"
        print(f"rules {v}: engine {engine:,.0f}/s, target {ENGINE_TARGET:,}/s per core: {verdict}")


if __name__ == "__main__":
    main()
