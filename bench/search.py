"""Benchmark: search `CarePlan?subject=…` p50 at 10,000 and at 1,000,000 stored encounters.

Target (quality.md): p50 at 1,000,000 ÷ p50 at 10,000 ≤ 1.5 — searches must not slow down
as the table grows (keyset paging on indexed columns; the total is counted per patient).
Filler rows carry small stand-in resources to keep the database to a sensible size; the
patients searched for hold real CarePlans. Measured in process, through the repository.

    .venv/bin/python -m bench.search [--rows 1000000] [--database sqlite:///path | postgresql://…]
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, insert

from app.fhir.search import SearchQuery
from app.store import migrate
from app.store.db import make_engine
from app.store.tables import TriageEncounter
from app.triage.repository import EncounterRepository
from app.triage.service import prepare, store
from bench.common import random_response

T = TriageEncounter.__table__
PATIENTS = 100_000


def filler_rows(start: int, count: int, rng: random.Random) -> list[dict]:
    base = datetime(2026, 1, 1, tzinfo=UTC)
    rows: list[dict] = []
    for i in range(start, start + count):
        ident = str(uuid.UUID(int=rng.getrandbits(128)))
        stub = {"resourceType": "CarePlan", "id": ident}
        rows.append(
            {
                "encounter_id": ident,
                "careplan_id": f"c{ident[1:]}",
                "response_id": f"r{ident[1:]}",
                "patient": f"p{rng.randrange(PATIENTS)}",
                "disposition": rng.choice(("self-care", "doctor", "urgent")),
                "preference": "no-preference",
                "findings": [],
                "rules_version": "1.0.0",
                "created": base + timedelta(seconds=i),
                "authored": None,
                "identifier_system": None,
                "identifier_value": None,
                "version_id": 1,
                "questionnaire_response": stub,
                "encounter": stub,
                "careplan": stub,
            }
        )
    return rows


def grow(engine: Engine, have: int, want: int, rng: random.Random) -> None:
    batch = 20_000
    while have < want:
        n = min(batch, want - have)
        with engine.begin() as connection:
            connection.execute(insert(T), filler_rows(have, n, rng))
        have += n


def p50_ms(repository: EncounterRepository, patients: list[str], rounds: int = 300) -> float:
    times = []
    for i in range(rounds):
        query = SearchQuery("CarePlan", patient=patients[i % len(patients)], count=20)
        start = time.perf_counter()
        repository.search(query)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--database", help="default: a SQLite file in a temporary directory")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database or f"sqlite:///{os.path.join(tmp, 'search.db')}"
        engine = make_engine(url)
        migrate.upgrade(engine)
        repository = EncounterRepository(engine)
        rng = random.Random(3)
        # the searched patients: 20 real triages each
        searched = [f"bench-{i}" for i in range(20)]
        for patient in searched:
            for n in range(20):
                qr = random_response(rng, n)
                qr["subject"] = {"reference": f"Patient/{patient}"}
                store(prepare(qr), repository)
        rows = 400
        print(f"{'stored encounters':>18} {'p50 ms':>8}")
        results = {}
        for size in (10_000, args.rows):
            grow(engine, rows, size, rng)
            rows = size
            results[size] = p50_ms(repository, searched)
            print(f"{size:>18,} {results[size]:8.3f}")
        ratio = results[args.rows] / results[10_000]
        print(f"ratio {ratio:.2f} (target ≤ 1.5: {'ok' if ratio <= 1.5 else 'MISS'})")
        engine.dispose()


if __name__ == "__main__":
    main()
