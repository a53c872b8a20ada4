"""Alembic, driven from code: the migrations (migrations/ at the top of the repository) ship inside
the package as app.migrations, so an installed service migrates its own database."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

# app.migrations is migrations/ at the top of the repository, mapped by setuptools' package-dir,
# which mypy does not read: it knows the folder only as the top-level package `migrations`.
import app.migrations as migrations_package  # type: ignore[import-not-found]
from app.kit.keyring import Keyring
from app.store.db import unbounded_transaction


def _config() -> Config:
    config = Config()
    # The folder of the app.migrations package, wherever it was installed from (Alembic's
    # "app:migrations" form would look inside app/ itself).
    config.set_main_option("script_location", str(Path(migrations_package.__file__).parent))
    return config


def upgrade(engine: Engine, revision: str = "head", keyring: Keyring | None = None) -> None:
    """`keyring`: for migrations that seal or open secrets (default: from the settings)."""
    config = _config()
    with unbounded_transaction(engine) as connection:  # migrations may take long
        config.attributes["connection"] = connection
        config.attributes["keyring"] = keyring
        command.upgrade(config, revision)


def downgrade(engine: Engine, revision: str, keyring: Keyring | None = None) -> None:
    config = _config()
    with unbounded_transaction(engine) as connection:  # migrations may take long
        config.attributes["connection"] = connection
        config.attributes["keyring"] = keyring
        command.downgrade(config, revision)


def migration_keyring() -> Keyring:
    """The keyring a running migration was given, or the one of the settings."""
    from alembic import op

    from app.settings import get_settings, keyring_for

    config = op.get_context().config
    given = config.attributes.get("keyring") if config is not None else None
    return given if given is not None else keyring_for(get_settings())


def head_revision() -> str:
    head = ScriptDirectory.from_config(_config()).get_current_head()
    assert head is not None  # migrations/versions is never empty
    return head


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def is_up_to_date(engine: Engine) -> bool:
    return current_revision(engine) == head_revision()
