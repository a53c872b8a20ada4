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
