"""Migrations are reviewed code: upgrade and downgrade both work, on both engines."""

from sqlalchemy import inspect

from app.store import migrate
from app.store.db import make_engine


def test_upgrade_downgrade_upgrade(database_url):
    engine = make_engine(database_url)
    try:
        migrate.downgrade(engine, "base")
        assert migrate.current_revision(engine) is None
        assert "triage_encounter" not in inspect(engine).get_table_names()
        migrate.upgrade(engine)
        assert migrate.is_up_to_date(engine)
        assert "triage_encounter" in inspect(engine).get_table_names()
    finally:
        migrate.upgrade(engine)
        engine.dispose()


def test_resource_versions_migrate_both_ways_and_match_the_model(database_url):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from app.store.tables import Base

    engine = make_engine(database_url)
    try:
        migrate.downgrade(engine, "20261125_0003")
        assert "resource_version" not in inspect(engine).get_table_names()
        migrate.upgrade(engine)
        assert "resource_version" in inspect(engine).get_table_names()
        with engine.connect() as connection:
            diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
        ours = [d for d in diff if "resource_version" in repr(d)]
        assert not ours, ours
    finally:
        migrate.upgrade(engine)
        engine.dispose()


def test_cds_hooks_tables_come_and_go_with_their_revision(database_url):
    engine = make_engine(database_url)
    try:
        migrate.upgrade(engine)
        assert {"cds_feedback", "cds_token_use"} <= set(inspect(engine).get_table_names())
        migrate.downgrade(engine, "20261125_0003")
        tables = set(inspect(engine).get_table_names())
        assert "cds_feedback" not in tables and "cds_token_use" not in tables and "audit_event" in tables
    finally:
        migrate.upgrade(engine)
        engine.dispose()


def test_the_models_match_the_migrations(database_url):
    """Every table, column, index and constraint of app/store/tables.py is what the migrations
    make, on this engine (Alembic's autogenerate comparison finds nothing to change)."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from app.store.tables import Base

    engine = make_engine(database_url)
    try:
        migrate.upgrade(engine)
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            diff = [
                d
                for d in compare_metadata(context, Base.metadata)
                # alembic's own bookkeeping table is not a model
                if "alembic_version" not in repr(d)
            ]
        assert diff == [], diff
    finally:
        engine.dispose()


def test_the_subscription_authority_comes_and_goes_with_its_revision(database_url):
    engine = make_engine(database_url)

    def columns():
        return {c["name"] for c in inspect(engine).get_columns("webhook_subscription")}

    try:
        migrate.upgrade(engine)
        assert "authority" in columns()
        migrate.downgrade(engine, "20261125_0003")
        assert "authority" not in columns() and "secret" in columns()
        migrate.upgrade(engine)
        assert migrate.is_up_to_date(engine) and "authority" in columns()
    finally:
        migrate.upgrade(engine)
        engine.dispose()


def _migrate_at_the_barrier(url: str, barrier, outcomes) -> None:
    """One process of `lbp-triage serve --workers N` starting on a database nobody has migrated."""
    engine = make_engine(url)
    try:
        barrier.wait(timeout=60)
        migrate.upgrade(engine)
        outcomes.put("migrated" if migrate.is_up_to_date(engine) else "not at head")
    except Exception as exc:  # reported to the test, which names it
        outcomes.put(f"{type(exc).__name__}: {str(exc)[:200]}")
    finally:
        engine.dispose()


def test_processes_migrating_one_new_database_at_once_all_start(blank_database_url):
    """Every worker of a multi-worker start migrates the embedded database (or a server with
    LBP_AUTO_MIGRATE=true). Racing, the loser used to fail on "table already exists", and its
    failed start-up made uvicorn stop the whole service. One migration at a time: the others wait,
    then find the schema at head."""
    import multiprocessing

    processes_at_once = 3
    spawn = multiprocessing.get_context("spawn")
    barrier = spawn.Barrier(processes_at_once)
    outcomes = spawn.Queue()
    processes = [
        spawn.Process(target=_migrate_at_the_barrier, args=(blank_database_url, barrier, outcomes))
        for _ in range(processes_at_once)
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=120)
    assert [outcomes.get(timeout=5) for _ in processes] == ["migrated"] * processes_at_once


def _open_each_new_file_at_the_barrier(urls: list[str], barrier, outcomes) -> None:
    failures = []
    for url in urls:
        engine = make_engine(url)
        barrier.wait(timeout=60)
        try:
            with engine.begin() as connection:
                connection.exec_driver_sql("CREATE TABLE IF NOT EXISTS opened (n INTEGER)")
        except Exception as exc:  # reported to the test, which names it
            failures.append(f"{type(exc).__name__}: {str(exc)[:200]}")
        finally:
            engine.dispose()
    outcomes.put(failures)


def test_processes_opening_one_new_sqlite_file_at_once_all_open_it(tmp_path):
    """Each connection turns the file to write-ahead logging when it opens it. On a new file
    SQLite answered "database is locked" at once, without waiting, to all but one of the processes
    doing so together; they now wait for it as for any other lock."""
    import multiprocessing

    processes_at_once, rounds = 4, 12
    urls = [f"sqlite:///{tmp_path / f'new-{n}.db'}" for n in range(rounds)]
    spawn = multiprocessing.get_context("spawn")
    barrier = spawn.Barrier(processes_at_once)
    outcomes = spawn.Queue()
    processes = [
        spawn.Process(target=_open_each_new_file_at_the_barrier, args=(urls, barrier, outcomes))
        for _ in range(processes_at_once)
    ]
    for process in processes:
        process.start()
    failures = [failure for _ in processes for failure in outcomes.get(timeout=120)]
    for process in processes:
        process.join(timeout=30)
    assert failures == []


def test_migration_work_is_not_cut_by_the_request_watchdog(database_url):
    """Migrations run inside `unbounded_transaction()`: no statement timeout and no watchdog, for a migration
    may rewrite a large table (0008 does). The watchdog, which cuts any PostgreSQL connection held
    past the request timeout plus a second, cut them all the same after ~3 s."""
    import pytest

    if not database_url.startswith("postgresql"):
        pytest.skip("the watchdog and the statement timeout are PostgreSQL's")
    from app.store.db import unbounded_transaction

    engine = make_engine(database_url, timeout=0.5)  # the watchdog at 1.5 s, statements at 0.5 s
    try:
        with unbounded_transaction(engine) as connection:
            connection.exec_driver_sql("SELECT pg_sleep(2.5)")
    finally:
        engine.dispose()


def test_the_alembic_command_migrates_a_blank_database(blank_database_url, monkeypatch):
    """migrations/env.py run by Alembic itself (no connection handed over): LBP_DATABASE_URL's
    database, every revision in one transaction under the migration lock."""
    from alembic import command

    from app.settings import get_settings

    monkeypatch.setenv("LBP_DATABASE_URL", blank_database_url)
    get_settings.cache_clear()
    try:
        config = migrate._config()
        command.upgrade(config, "head")
    finally:
        get_settings.cache_clear()
    engine = make_engine(blank_database_url)
    try:
        assert migrate.is_up_to_date(engine)
    finally:
        engine.dispose()
