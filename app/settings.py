"""Configuration from the environment (prefix LBP_), with defaults that just work.

Every setting here is listed in the README's configuration table.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import Depends, Request
from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from app.kit.keyring import DEVELOPMENT_KEY_FILE, Keyring, load_keyring

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
        131_072,
        description="Largest accepted request body (413 above). A triage response is a few KiB; "
        "larger bodies only cost parsing time on the event loop.",
    )
    body_timeout_seconds: float = Field(
        10.0, gt=0, description="Time a client has to send its whole request body (408 past it)."
    )
    page_size: int = Field(20, description="Search results per page when _count is not given.")
    max_page_size: int = Field(200, description="Largest _count honoured.")
    public_base_url: str | None = Field(
        None,
        description="Base URL clients see (e.g. https://triage.example.org), used in every link. Default: "
        "the request's Host when LBP_ALLOWED_HOSTS lists it, else the address the server listens on.",
    )
    allowed_hosts: str = Field(
        "",
        description="Comma-separated Host header values (name or name:port) links may be built from when "
        "LBP_PUBLIC_BASE_URL is not set; any other Host is ignored.",
    )
    trusted_proxies: str = Field(
        "",
        description="Comma-separated proxy addresses or CIDRs whose X-Forwarded-For and X-Forwarded-Proto "
        "are believed (client address for rate limits and the audit trail, scheme for links). Default: none.",
    )
    db_pool_size: int = Field(10, description="PostgreSQL connections per worker process.")
    db_timeout_seconds: float = Field(
        2.0,
        gt=0,
        le=60,
        description="PostgreSQL: longest statement; also bounds connecting and waiting for a "
        "pooled connection, and cuts connections to a server that stops answering (503 instead of a hang).",
    )
    readyz_timeout_seconds: float = Field(2.0, gt=0, description="Time /readyz allows its checks (503 past it).")
    log_level: str = Field("INFO", description="Log level: DEBUG, INFO, WARNING, ERROR.")
    log_format: Literal["json", "console"] = Field(
        "json", description="json: one JSON object per line; console: readable lines for development."
    )
    opentelemetry: bool = Field(
        False,
        description="FastAPI's own OpenTelemetry traces, metrics and logs, sent to the providers configured "
        "globally (e.g. under opentelemetry-instrument). Off: /metrics and the JSON logs only, and no "
        "request looks the providers up.",
    )
    auth_mode: Literal["none", "static", "jwt"] = Field(
        "none", description="none: no tokens, loopback clients only; static: LBP_AUTH_TOKENS; jwt: signed JWTs."
    )
    auth_tokens: str | None = Field(
        None, description='JSON: token → list of scopes, or → {"scopes": [...], "patient": "123", "subject": "name"}.'
    )
    jwt_jwks_url: str | None = Field(None, description="JWKS URL of the token issuer (keys cached, refreshed).")
    jwt_jwks_timeout_seconds: float = Field(
        3.0,
        gt=0,
        le=30,
        description="Time allowed to fetch the JWKS; a failed fetch is retried after 10 s, "
        "meanwhile tokens are checked against the cached keys (503 when there are none).",
    )
    jwt_public_key: str | None = Field(None, description="PEM public key, instead of a JWKS URL.")
    jwt_issuer: str | None = Field(None, description="Required `iss` of tokens.")
    jwt_audience: str | None = Field(None, description="Required `aud` of tokens.")
    jwt_algorithms: str = Field("RS256,ES256", description="Accepted signature algorithms (asymmetric only).")
    rate_limit_per_minute: int = Field(
        12000,
        description="Requests per minute per authenticated caller (token subject) and process (burst: a tenth "
        "of it); 0: no limit.",
    )
    rate_limit_per_address_per_minute: int | None = Field(
        None,
        description="Requests per minute per client address and process, counted before the token is "
        "checked (burst: a tenth of it); default: LBP_RATE_LIMIT_PER_MINUTE; 0: no limit.",
    )
    cors_origins: str = Field("", description="Comma-separated origins allowed by CORS; empty: CORS closed.")
    max_json_depth: int = Field(64, description="Deepest JSON nesting accepted in a request body (400 above).")

    environment: Literal["development", "production"] | None = Field(
        None,
        description="production: a missing LBP_SECRET_KEY stops the service at start-up; development: a "
        "key is generated (and kept in a file). Default: development with LBP_AUTH_MODE=none, else production.",
    )
    secret_key: str | None = Field(
        None,
        description="Key-encryption key(s) sealing webhook secrets and channel headers at rest: base64 of "
        "32 random bytes (`openssl rand -base64 32`); several comma-separated, newest first, while rotating.",
    )
    secret_key_file: str | None = Field(None, description="A file holding LBP_SECRET_KEY's value instead.")

    audit_spool_path: str | None = Field(
        None,
        description="The local append-only file where audit records wait while the database is down "
        "(replayed when it answers). Default: beside the SQLite file, or lbp-triage-audit-spool.ndjson here.",
    )

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
        7.0,
        ge=0,
        description="Days delivered notifications stay in the delivery log (dead ones stay "
        "until re-sent or the subscription is deleted).",
    )
    webhook_subscription_refresh_seconds: float = Field(
        1.0,
        ge=0,
        description="How stale an API process's view of the subscriptions may be (changes "
        "made by the same process apply at once).",
    )

    cds_clients: str = Field(
        "",
        description="CDS Hooks: JSON object of the EHRs allowed to call /cds-services, issuer (`iss`) → "
        'its JWKS URL, e.g. {"https://ehr.example.org": "https://ehr.example.org/.well-known/jwks.json"}. '
        "Empty: CDS Hooks calls are refused unless LBP_AUTH_MODE=none (loopback only).",
    )
    cds_fhir_servers: str = Field(
        "",
        description="CDS Hooks: comma-separated FHIR base URLs the service may query with a hook's "
        "`fhirAuthorization` token (`fhirServer`); the token is never sent anywhere else. Empty: none.",
    )
    cds_imaging_codes: str = Field(
        "",
        description="CDS Hooks: extra CPT codes (comma-separated) counted as lumbar spine imaging by "
        "lbp-imaging, beside the defaults of ValueSet lbp-lumbar-imaging.",
    )
    smart_authorize_url: str | None = Field(
        None,
        description="SMART: the site authorization server's authorize endpoint (jwt mode); published "
        "in /.well-known/smart-configuration and the CapabilityStatement.",
    )
    smart_token_url: str | None = Field(
        None,
        description="SMART: the authorization server's token endpoint (jwt mode). With it set, SMART "
        "discovery is served.",
    )
    smart_revocation_url: str | None = Field(None, description="SMART: token revocation endpoint (optional).")
    smart_introspection_url: str | None = Field(None, description="SMART: token introspection endpoint (optional).")
    smart_management_url: str | None = Field(
        None, description="SMART: where users manage their authorizations (optional)."
    )
    smart_registration_url: str | None = Field(
        None, description="SMART: dynamic client registration endpoint (optional)."
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
    def production(self) -> bool:
        if self.environment is not None:
            return self.environment == "production"
        return self.auth_mode != "none"  # a service open to other machines is a production one

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


def development_key_file(settings: Settings) -> Path:
    """Where development keeps its generated key: beside the SQLite file, else here."""
    from sqlalchemy.engine import make_url

    url = make_url(settings.database_url)
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        return Path(url.database).with_suffix(".key")
    return Path(DEVELOPMENT_KEY_FILE)


def audit_spool_path(settings: Settings) -> Path:
    if settings.audit_spool_path:
        return Path(settings.audit_spool_path)
    from sqlalchemy.engine import make_url

    url = make_url(settings.database_url)
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        return Path(url.database).with_suffix(".audit-spool.ndjson")
    return Path("lbp-triage-audit-spool.ndjson")


_keyrings: dict[tuple[Any, ...], Keyring] = {}


def keyring_for(settings: Settings) -> Keyring:
    """The key-encryption keys of these settings (loaded once; KeyConfigurationError when missing)."""
    where = development_key_file(settings)
    cache_key = (settings.secret_key, settings.secret_key_file, settings.production, str(where.resolve()))
    if cache_key not in _keyrings:
        _keyrings[cache_key] = load_keyring(
            settings.secret_key, settings.secret_key_file, production=settings.production, development_file=where
        )
    return _keyrings[cache_key]


async def app_settings(request: Request) -> Settings:
    """The running app's settings (set by create_app), as a dependency: a coroutine, so that
    FastAPI does not hop to its thread pool to read one attribute."""
    settings: Settings = request.app.state.settings
    return settings


AppSettings = Annotated[Settings, Depends(app_settings)]
