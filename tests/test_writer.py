"""Group commit in the database writer: the triages queued together share one transaction and
one commit, nobody is answered before it, a later triage sees an earlier one's rows, and a
refusal or a failing row never fails its neighbours."""

import asyncio
import threading

import pytest
from sqlalchemy import event, func, select

from app.services import services
from app.store.tables import ResourceVersion, TriageEncounter
from app.store.writer import DatabaseWriter
from app.triage.repository import EncounterRepository
from app.triage.service import Conflict, prepare, store
from tests.support import BASELINE, response

T = TriageEncounter.__table__
V = ResourceVersion.__table__


@pytest.fixture
def repository(app, client):  # client: empty tables
    return EncounterRepository(services(app).engine)


@pytest.fixture
def commits(app):
    counted = []
    listener = lambda connection: counted.append(1)  # noqa: E731
    event.listen(services(app).engine, "commit", listener)
    yield counted
    event.remove(services(app).engine, "commit", listener)


def _stored(engine, encounter_ids) -> set[str]:
    with engine.connect() as connection:
        return set(connection.execute(select(T.c.encounter_id).where(T.c.encounter_id.in_(encounter_ids))).scalars())


async def _queued_together(writer: DatabaseWriter, calls: list[tuple]) -> list:
    """Run the triages on the writer as one batch: a first piece of work holds the writer
    until every triage is queued."""
    gate = threading.Event()
    held = asyncio.ensure_future(writer.run(gate.wait, 10))
    await asyncio.sleep(0.05)
    futures = [asyncio.ensure_future(writer.run_grouped(*call)) for call in calls]
    await asyncio.sleep(0.05)
    gate.set()
    await held
    return await asyncio.gather(*futures, return_exceptions=True)


def _run(calls: list[tuple]) -> list:
    writer = DatabaseWriter()
    try:
        return asyncio.run(_queued_together(writer, calls))
    finally:
        writer.close()


def test_triages_queued_together_are_committed_once(app, repository, commits):
    inserts = []

    def count_inserts(connection, cursor, statement, parameters, context, executemany):
        if statement.startswith("INSERT INTO triage_encounter"):
            inserts.append(len(parameters) if executemany else 1)

    prepared = [prepare(response(patient=f"g{i}")) for i in range(5)]
    event.listen(services(app).engine, "before_cursor_execute", count_inserts)
    try:
        results = _run([(store, p, repository) for p in prepared])
    finally:
        event.remove(services(app).engine, "before_cursor_execute", count_inserts)
    assert all(r.created for r in results)
    assert len(commits) == 1  # the five triages, one transaction
    assert inserts == [5]  # and one INSERT for their five rows
    assert _stored(services(app).engine, [p.row["encounter_id"] for p in prepared]) == {
        p.row["encounter_id"] for p in prepared
    }


def test_a_later_triage_in_the_group_sees_an_earlier_ones_rows(app, repository, commits):
    """The same identifier twice in one group: the second is a replay of the first; then an
    amendment of it in the same group makes the next version of that one triage."""
    identifier = {"system": "urn:group", "value": "same"}
    first, again = prepare(response(identifier=identifier)), prepare(response(identifier=identifier))
    amended = prepare(response(dict(BASELINE, **{"pain-intensity": 7}), identifier=identifier, status="amended"))
    results = _run([(store, first, repository), (store, again, repository), (store, amended, repository)])
    assert [r.created for r in results] == [True, False, True]
    assert results[1].careplan["id"] == results[0].careplan["id"]
    assert results[2].replaced == results[0].careplan["id"]
    assert len(commits) == 1
    with services(app).engine.connect() as connection:
        assert (
            connection.execute(select(func.count()).select_from(T).where(T.c.identifier_value == "same")).scalar() == 1
        )
        assert connection.execute(select(func.count()).select_from(V)).scalar() == 4  # the superseded versions


def test_a_refusal_in_the_group_leaves_its_neighbours_in_it(app, repository, commits):
    identifier = {"system": "urn:group", "value": "taken"}
    first = prepare(response(identifier=identifier, patient="a"))
    other_subject = prepare(response(identifier=identifier, patient="b"))
    after = prepare(response(patient="c"))
    results = _run([(store, first, repository), (store, other_subject, repository), (store, after, repository)])
    assert results[0].created and isinstance(results[1], Conflict) and results[2].created
    assert len(commits) == 1  # no rollback, no second transaction
    assert _stored(services(app).engine, [first.row["encounter_id"], after.row["encounter_id"]]) == {
        first.row["encounter_id"],
        after.row["encounter_id"],
    }


def test_a_failing_row_does_not_fail_its_neighbours(app, repository):
    good = [prepare(response(patient=f"n{i}")) for i in range(3)]
    clash = prepare(response(patient="n-clash"))
    clash.row["encounter_id"] = good[1].row["encounter_id"]  # the same primary key: the group is spoiled
    results = _run(
        [
            (store, good[0], repository),
            (store, good[1], repository),
            (store, clash, repository),
            (store, good[2], repository),
        ]
    )
    assert [type(r).__name__ for r in results] == ["Submitted", "Submitted", "IntegrityError", "Submitted"]
    assert _stored(services(app).engine, [p.row["encounter_id"] for p in good]) == {p.row["encounter_id"] for p in good}
    with services(app).engine.connect() as connection:  # the clash left nothing half-written
        assert connection.execute(select(func.count()).select_from(T).where(T.c.patient == "n-clash")).scalar() == 0


def test_a_refused_commit_is_never_answered_as_success(app, repository):
    """The group's COMMIT fails: each triage is written again on its own; those that fail
    again get the error, and nothing of the failed group stays behind."""
    refused = []

    def refuse_two_commits(connection):
        if len(refused) < 2:  # the group's commit, then the first triage's own
            refused.append(1)
            raise RuntimeError("the database refuses to commit")

    prepared = [prepare(response(patient=f"r{i}")) for i in range(3)]
    event.listen(services(app).engine, "commit", refuse_two_commits)
    try:
        results = _run([(store, p, repository) for p in prepared])
    finally:
        event.remove(services(app).engine, "commit", refuse_two_commits)
    assert isinstance(results[0], RuntimeError) and results[1].created and results[2].created
    assert _stored(services(app).engine, [p.row["encounter_id"] for p in prepared]) == {
        prepared[1].row["encounter_id"],
        prepared[2].row["encounter_id"],
    }


_WRITER_PROCESS = """
import asyncio, sys
from sqlalchemy import event
from app.triage.service import prepare, store
from app.store.db import make_engine
from app.triage.repository import EncounterRepository
from app.store.writer import DatabaseWriter
from tests.support import BASELINE, response

engine = make_engine(sys.argv[1])

@event.listens_for(engine, "connect")
def no_busy_handler(dbapi_connection, _record):  # after make_engine's pragmas: SQLITE_BUSY is an error now
    dbapi_connection.execute("PRAGMA busy_timeout=0")

repository = EncounterRepository(engine)
writer = DatabaseWriter()

async def main():
    for _ in range(25):
        await asyncio.gather(*(writer.run_grouped(store, prepare(response(patient=sys.argv[2])), repository)
                               for _ in range(8)))

asyncio.run(main())
writer.close()
"""


def test_two_worker_processes_take_turns_on_sqlite_without_the_busy_handler(tmp_path):
    """Several uvicorn workers on one SQLite file queue on the writers' lock file, never in
    SQLite's busy handler (which sleeps in steps of milliseconds): with the busy handler off,
    two processes writing at once still never meet SQLITE_BUSY."""
    import subprocess
    import sys
    from pathlib import Path

    from app.store import migrate
    from app.store.db import make_engine

    url = f"sqlite:///{tmp_path}/two.db"
    engine = make_engine(url)
    migrate.upgrade(engine)
    root = Path(__file__).resolve().parents[1]
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", _WRITER_PROCESS, url, f"w{i}"], cwd=root, stderr=subprocess.PIPE, text=True
        )
        for i in range(2)
    ]
    errors = [w.communicate(timeout=120)[1] for w in workers]
    assert [w.returncode for w in workers] == [0, 0], errors
    with engine.connect() as connection:
        by_worker = dict(connection.execute(select(T.c.patient, func.count()).group_by(T.c.patient)).all())
    engine.dispose()
    assert by_worker == {"w0": 200, "w1": 200}
