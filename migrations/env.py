"""Alembic environment: the connection comes from the caller (app.store.migrate) or from
LBP_DATABASE_URL when run through the `alembic` command."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from app.store.db import retry_while_locked
from app.store.tables import Base

config = context.config
target_metadata = Base.metadata

# pg_advisory_xact_lock's key for "a migration is running": any fixed 64-bit number of our own.
MIGRATION_LOCK_KEY = 0x6C62_7074_7269_6167  # "lbptriag"


# How long a worker waits for another's SQLite migration before giving up (beyond SQLite's own
# busy timeout, which a long migration outlasts: giving up then would stop the whole service).
SQLITE_MIGRATION_WAIT_SECONDS = 600


def hold_the_migration_lock(connection: Connection) -> None:
    """One migration at a time, until this transaction ends. Every worker of a multi-worker start
    migrates (the embedded SQLite default, or LBP_AUTO_MIGRATE=true); racing, two would both find
    no alembic_version and the loser fail on "already exists". Taken before Alembic reads the
    version, so the others wait here and then find the schema at head.
    - SQLite: the sqlite3 module opens a transaction only before DML, so the DDL that starts a
      migration would run outside one; BEGIN IMMEDIATE takes the write lock now (the others wait
      in the busy handler), and makes the whole migration one transaction.
    - PostgreSQL: DDL is transactional already; a transaction-scoped advisory lock serialises."""
    if connection.dialect.name == "sqlite":
        retry_while_locked(lambda: connection.exec_driver_sql("BEGIN IMMEDIATE"), SQLITE_MIGRATION_WAIT_SECONDS)
    elif connection.dialect.name == "postgresql":
        connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK_KEY})")


def run_migrations() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
        with context.begin_transaction():
            hold_the_migration_lock(connection)
            context.run_migrations()
        return
    from app.settings import get_settings
    from app.store.db import make_engine, unbounded_transaction

    engine = make_engine(get_settings().database_url)
    # begun here, as app.store.migrate does: one transaction for every revision (on SQLite,
    # Alembic would otherwise commit after the first and run the rest outside the lock)
    with unbounded_transaction(engine) as conn:
        context.configure(connection=conn, target_metadata=target_metadata, render_as_batch=True)
        with context.begin_transaction():
            hold_the_migration_lock(conn)
            context.run_migrations()
    engine.dispose()


run_migrations()
