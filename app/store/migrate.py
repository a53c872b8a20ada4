"""Alembic, driven from code: the migrations ship inside the package (app/migrations)."""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from typing import Any

from sqlalchemy import Engine

from .db import unbounded


def _config() -> Config:
    config = Config()
    config.set_main_option("script_location", "app:migrations")
    return config


def _unbounded(engine: Engine, connection: Any) -> None:
    """Migrations may take long: the request timeouts do not apply to them."""
    if engine.dialect.name == "postgresql":
        connection.exec_driver_sql("SET LOCAL statement_timeout = 0")
        connection.exec_driver_sql("SET LOCAL lock_timeout = 0")


def upgrade(engine: Engine, revision: str = "head") -> None:
    config = _config()
    with unbounded(engine), engine.begin() as connection:
        _unbounded(engine, connection)
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def downgrade(engine: Engine, revision: str) -> None:
    config = _config()
    with unbounded(engine), engine.begin() as connection:
        _unbounded(engine, connection)
        config.attributes["connection"] = connection
        command.downgrade(config, revision)


def head_revision() -> str:
    return ScriptDirectory.from_config(_config()).get_current_head()  # type: ignore[return-value]


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def is_up_to_date(engine: Engine) -> bool:
    return current_revision(engine) == head_revision()
