"""Configuration from the environment (prefix LBP_), with defaults that just work.

Every setting here is listed in the README's configuration table.
"""

from __future__ import annotations

from functools import cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LBP_", extra="ignore")

    database_url: str = Field(
        "sqlite:///lbp-triage.db",
        description="sqlite:///path or postgresql://user@host/db; the driver is picked for you.",
    )
    auto_migrate: bool | None = Field(
        None,
        description="Migrate the database at start-up. Default: yes for SQLite, no for PostgreSQL "
        "(run `lbp-triage migrate`).",
    )
    max_body_bytes: int = Field(1_048_576, description="Largest accepted request body (413 above).")
    page_size: int = Field(20, description="Search results per page when _count is not given.")
    max_page_size: int = Field(200, description="Largest _count honoured.")
    public_base_url: str | None = Field(
        None, description="Base URL clients see (e.g. https://triage.example.org); default: from the request."
    )
    db_pool_size: int = Field(10, description="PostgreSQL connections per worker process.")
    log_level: str = Field("INFO", description="Log level: DEBUG, INFO, WARNING, ERROR.")


@cache
def get_settings() -> Settings:
    return Settings()
