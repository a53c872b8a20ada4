"""Configuration from the environment (prefix LBP_), with defaults that just work.

Every setting here is listed in the README's configuration table.
"""

from __future__ import annotations

from functools import cache

from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h: eight attempts over 27.6 hours (plus jitter).
DEFAULT_RETRY_SCHEDULE = "5,300,1800,7200,18000,36000,36000"


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
    max_body_bytes: int = Field(
        131_072, description="Largest accepted request body (413 above). A triage response is a few KiB; "
        "larger bodies only cost parsing time on the event loop.")
    body_timeout_seconds: float = Field(
        10.0, gt=0, description="Time a client has to send its whole request body (408 past it).")
    page_size: int = Field(20, description="Search results per page when _count is not given.")
    max_page_size: int = Field(200, description="Largest _count honoured.")
    public_base_url: str | None = Field(
        None, description="Base URL clients see (e.g. https://triage.example.org), used in every link. Default: "
        "the request's Host when LBP_ALLOWED_HOSTS lists it, else the address the server listens on."
    )
    allowed_hosts: str = Field(
        "", description="Comma-separated Host header values (name or name:port) links may be built from when "
        "LBP_PUBLIC_BASE_URL is not set; any other Host is ignored.")
    trusted_proxies: str = Field(
        "", description="Comma-separated proxy addresses or CIDRs whose X-Forwarded-For and X-Forwarded-Proto "
        "are believed (client address for rate limits and the audit trail, scheme for links). Default: none.")
    db_pool_size: int = Field(10, description="PostgreSQL connections per worker process.")
    db_timeout_seconds: float = Field(
        2.0, gt=0, le=60, description="PostgreSQL: longest statement; also bounds connecting and waiting for a "
        "pooled connection, and cuts connections to a server that stops answering (503 instead of a hang).")
    readyz_timeout_seconds: float = Field(2.0, gt=0, description="Time /readyz allows its checks (503 past it).")
    log_level: str = Field("INFO", description="Log level: DEBUG, INFO, WARNING, ERROR.")
    log_format: Literal["json", "console"] = Field(
        "json", description="json: one JSON object per line; console: readable lines for development."
    )
    auth_mode: Literal["none", "static", "jwt"] = Field(
        "none", description="none: no tokens, loopback clients only; static: LBP_AUTH_TOKENS; jwt: signed JWTs."
    )
    auth_tokens: str | None = Field(
        None, description='JSON: token → list of scopes, or → {"scopes": [...], "patient": "123", "subject": "name"}.'
    )
    jwt_jwks_url: str | None = Field(None, description="JWKS URL of the token issuer (keys cached, refreshed).")
    jwt_jwks_timeout_seconds: float = Field(
        3.0, gt=0, le=30, description="Time allowed to fetch the JWKS; a failed fetch is retried after 10 s, "
        "meanwhile tokens are checked against the cached keys (503 when there are none).")
    jwt_public_key: str | None = Field(None, description="PEM public key, instead of a JWKS URL.")
    jwt_issuer: str | None = Field(None, description="Required `iss` of tokens.")
    jwt_audience: str | None = Field(None, description="Required `aud` of tokens.")
    jwt_algorithms: str = Field("RS256,ES256", description="Accepted signature algorithms (asymmetric only).")
    rate_limit_per_minute: int = Field(
        12000, description="Requests per minute per authenticated caller (token subject) and process (burst: a tenth "
        "of it); 0: no limit."
    )
    rate_limit_per_address_per_minute: int | None = Field(
        None, description="Requests per minute per client address and process, counted before the token is "
        "checked (burst: a tenth of it); default: LBP_RATE_LIMIT_PER_MINUTE; 0: no limit.")
    cors_origins: str = Field("", description="Comma-separated origins allowed by CORS; empty: CORS closed.")
    max_json_depth: int = Field(64, description="Deepest JSON nesting accepted in a request body (400 above).")

    webhook_dispatcher: Literal["inprocess", "off"] = Field(
        "inprocess",
        description="Who delivers webhooks: `inprocess` (a dispatcher inside each API process) or `off` "
        "(separate `lbp-triage worker` processes do).",
    )
    webhook_allowed_hosts: str = Field(
        "",
        description="Comma-separated host names or CIDRs that webhook URLs may reach although they are "
        "loopback or private (on-premises receivers); these may also use http. Empty: public https only.",
    )
    webhook_retry_schedule: str = Field(
        DEFAULT_RETRY_SCHEDULE,
        description="Comma-separated seconds to wait before each retry of a failed delivery (jitter adds "
        "up to 20%); after the last one the delivery is kept as dead.",
    )
    webhook_timeout_seconds: float = Field(
        10.0, gt=0, le=15, description="Time allowed for one delivery, connection to response (at most 15)."
    )
    webhook_poll_seconds: float = Field(
        1.0, gt=0, description="How often a dispatcher looks for work written by other processes."
    )
    webhook_concurrency: int = Field(
        32, ge=1, description="Subscriptions a dispatcher delivers to at the same time (each in order)."
    )
    webhook_batch_size: int = Field(
        50, ge=1, description="Notifications a dispatcher takes from one subscription's queue at a time."
    )
    webhook_retention_days: float = Field(
        7.0, ge=0, description="Days delivered notifications stay in the delivery log (dead ones stay "
        "until re-sent or the subscription is deleted)."
    )
    webhook_subscription_refresh_seconds: float = Field(
        1.0, ge=0, description="How stale an API process's view of the subscriptions may be (changes "
        "made by the same process apply at once)."
    )

    @field_validator("trusted_proxies")
    @classmethod
    def _proxies(cls, value: str) -> str:
        from app.kit.forwarded import parse_networks

        try:
            parse_networks(value)
        except ValueError:
            raise ValueError("LBP_TRUSTED_PROXIES must be comma-separated addresses or CIDRs") from None
        return value

    @field_validator("webhook_retry_schedule")
    @classmethod
    def _schedule(cls, value: str) -> str:
        retry_delays(value)
        return value

    @property
    def webhook_retry_delays(self) -> tuple[float, ...]:
        return retry_delays(self.webhook_retry_schedule)


def retry_delays(schedule: str) -> tuple[float, ...]:
    """'5,300,1800' → (5.0, 300.0, 1800.0); an empty schedule means no retries."""
    try:
        delays = tuple(float(part) for part in schedule.replace(" ", "").split(",") if part)
    except ValueError:
        raise ValueError("LBP_WEBHOOK_RETRY_SCHEDULE must be comma-separated seconds, e.g. 5,300,1800") from None
    if any(delay < 0 for delay in delays):
        raise ValueError("LBP_WEBHOOK_RETRY_SCHEDULE must not hold negative delays")
    return delays


@cache
def get_settings() -> Settings:
    return Settings()
