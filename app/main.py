"""The ASGI application: `uvicorn app.main:app`.

`create_app()` builds everything from settings; the lifespan opens the database (and,
for the embedded SQLite default or with LBP_AUTO_MIGRATE=true, migrates it) and
disposes of it at shutdown. Nothing touches the database at import time.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.routing import APIRoute
from sqlalchemy.exc import OperationalError

from app import __version__
from app.cds import router as cds
from app.conformance import knowledge_router as knowledge
from app.conformance import router as conformance
from app.conformance.swagger import install_docs
from app.fhir import errors
from app.fhir.r4 import load_structure
from app.kit import collector
from app.kit.forwarded import ForwardedHeaders, parse_networks
from app.kit.head import HeadAsGet
from app.kit.keyring import KeyConfigurationError
from app.kit.logs import configure_logging
from app.ops import health
from app.security import audit_router as audit
from app.security import smart_router as smart
from app.security.access import AccessControl
from app.security.audit import AuditRepository, RefusalAggregator
from app.security.audit_spool import AuditSpool
from app.security.authn import Authenticator
from app.security.openapi import install_security_scheme
from app.security.ratelimit import RateLimiter
from app.services import Services
from app.settings import Settings, audit_spool_path, get_settings, keyring_for
from app.store import migrate
from app.store.db import is_sqlite, make_engine
from app.store.sqlite_files import SqliteFiles, abandon, sqlite_path
from app.store.writer import DatabaseWriter
from app.subscriptions import router as subscriptions
from app.subscriptions.dispatcher import Dispatcher
from app.subscriptions.outbound import OutboundPolicy
from app.subscriptions.store import Outbox, SubscriptionIndex, SubscriptionRepository
from app.triage import records as resources
from app.triage import router as triage
from app.triage import shortcut as triage_shortcut
from app.triage.deps import TriageServices
from app.triage.repository import EncounterRepository

log = logging.getLogger("lbp_triage")

DESCRIPTION = """
**Low back pain triage, in FHIR R4.** Send a patient's answers (a QuestionnaireResponse)
to `POST /fhir/QuestionnaireResponse/$triage`; get back a CarePlan that says where the
patient should go — emergency care now, an urgent call today, a doctor first, or the
home self-care program — and which exercises suit them.

Start with **Triage → Try it out**: ready examples of each disposition are in the list.
The questions themselves are at `GET /fhir/Questionnaire/lbp-triage`.
"""


def _operation_id(route: APIRoute) -> str:
    return route.name


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    # Test clients may enter the lifespan again while it runs; only the outermost one
    # opens and closes the database.
    if getattr(app.state, "running", 0):
        app.state.running += 1
        try:
            yield
        finally:
            app.state.running -= 1
        return
    app.state.running = 1
    settings: Settings = app.state.settings
    load_structure()
    engine = make_engine(settings.database_url, settings.db_pool_size, settings.db_timeout_seconds)
    auto = settings.auto_migrate if settings.auto_migrate is not None else is_sqlite(engine)
    ready = {"migrated": False}

    def schema_ready() -> bool:
        """Migrated (migrating first when automatic)? Retried until true, so a database
        that is down at start-up is picked up when it comes back."""
        if not ready["migrated"]:
            if auto:
                migrate.upgrade(engine, keyring=app.state.keyring)
            ready["migrated"] = migrate.is_up_to_date(engine)
        return ready["migrated"]

    files = None
    if (path := sqlite_path(engine)) is not None:  # checked before SQLite maps any of them
        files = SqliteFiles(path)
        problems = files.problems(starting=True)
        if problems:
            engine.dispose()
            raise RuntimeError("the SQLite database cannot be used: " + "; ".join(problems))
        files.guard(engine)
    try:
        if not schema_ready():
            log.error("database schema is not up to date; run `lbp-triage migrate`")
    except OperationalError as exc:
        if is_sqlite(engine):
            raise  # the embedded database must open, or there is nothing to serve
        log.error("database unreachable at start-up; will retry", extra={"error": type(exc).__name__})

    if files is not None:
        files.remember()  # the file this process writes to, from now on
    outbox = Outbox(SubscriptionIndex(engine, settings.webhook_subscription_refresh_seconds))
    policy = OutboundPolicy.from_setting(settings.webhook_allowed_hosts)
    writer = DatabaseWriter(threads=1)  # one per process: larger groups, no deadlock between groups
    audit = AuditRepository(engine, AuditSpool(audit_spool_path(settings)))
    audit.replay()  # records spooled by an earlier run, if the database answers
    dispatcher = dispatching = None
    if settings.webhook_dispatcher == "inprocess":
        dispatcher = Dispatcher(engine, settings, policy, ready=schema_ready, keyring=app.state.keyring)
        outbox.listeners.append(dispatcher.wake)
        dispatching = asyncio.create_task(dispatcher.run())
    app.state.services = Services(
        engine=engine,
        triage=TriageServices(settings, EncounterRepository(engine, outbox), writer),
        subscriptions=SubscriptionRepository(engine, outbox.index, outbox, app.state.keyring),
        outbound_policy=policy,
        audit=audit,
        schema_ready=schema_ready,
        sqlite_files=files,
        dispatcher=dispatcher,
    )
    log.info(
        "lbp-triage started",
        extra={
            "database": engine.url.get_backend_name(),
            "webhook_dispatcher": settings.webhook_dispatcher,
            "auth_mode": settings.auth_mode,
        },
    )
    collector.settle_after_startup()  # no full collections walking the start-up objects under load
    if settings.auth_mode == "none":
        log.warning(
            "AUTHENTICATION IS OFF (LBP_AUTH_MODE=none): serving clients on this machine only. "
            "Set LBP_AUTH_MODE=static or jwt before exposing the service."
        )
    try:
        yield
    finally:
        app.state.running = 0
        if dispatcher is not None and dispatching is not None:
            dispatcher.stop()  # between deliveries: those in flight finish and are recorded
            await dispatching
        for row in app.state.refusals.flush():  # the refusals still being counted
            writer.submit(audit.record, row)
        writer.close()  # writes already queued finish first
        if files is not None and not files.shm_writable():
            log.error(
                "the SQLite -shm file is not writable: leaving its connections open rather than "
                "faulting on close; fix the file before the next start"
            )
            abandon(engine)
        else:
            engine.dispose()


class ConfigurationError(Exception):
    """Settings the service cannot start with; the message says which and what to do."""


def create_app(settings: Settings | None = None) -> FastAPI:
    """Raises ConfigurationError for settings it cannot run with (checked here, before serving)."""
    settings = settings or get_settings()
    configure_logging(settings.log_level, settings.log_format)  # first: a generated key is announced in the log
    try:
        keyring = keyring_for(settings)
        authenticator = Authenticator(settings)
    except (KeyConfigurationError, ValueError) as exc:
        raise ConfigurationError(str(exc)) from None
    app = FastAPI(
        title="lbp-triage",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        generate_unique_id_function=_operation_id,
        docs_url=None,  # served by install_docs, without a CDN
        redoc_url=None,
        # Off unless asked for: it looked up three OpenTelemetry providers (environment reads
        # included) on every request, for a service whose metrics are its own (/metrics).
        telemetry=None if settings.opentelemetry else {"tracing": False, "metrics": False, "logs": False},
    )
    app.state.settings = settings
    app.state.keyring = keyring
    errors.install(app)
    # Outermost last: CORS answers preflights before access control. The access layer also
    # answers 406s, audits, counts (metrics) and logs every request, in one pass.
    app.state.refusals = RefusalAggregator()
    per_address = settings.rate_limit_per_address_per_minute
    app.add_middleware(
        AccessControl,
        authenticator=authenticator,
        limiter=RateLimiter(settings.rate_limit_per_minute),
        address_limiter=RateLimiter(settings.rate_limit_per_minute if per_address is None else per_address),
        refusals=app.state.refusals,
    )
    app.add_middleware(HeadAsGet)  # outside access control: a HEAD is checked as the GET it mirrors
    origins = [o.strip() for o in settings.cors_origins.split(",") if o.strip()]
    if origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=origins,
            allow_methods=["GET", "HEAD", "POST", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "Prefer", "If-None-Exist", "If-None-Match"],
            expose_headers=["Location", "ETag", "Last-Modified", "X-Request-Id"],
        )
    # Outermost of all: who the client is, for everything inside.
    app.add_middleware(ForwardedHeaders, trusted=parse_networks(settings.trusted_proxies))
    for module in (triage, knowledge, resources, subscriptions, audit, conformance, smart, health):
        app.include_router(module.router)
    cds.install(app)
    triage_shortcut.install(app)  # after every route is in
    install_security_scheme(app)
    install_docs(app, {"defaultModelsExpandDepth": -1, "tryItOutEnabled": True})
    return app


def _app_or_exit() -> FastAPI:
    try:
        return create_app()
    except (ConfigurationError, ValueError) as exc:  # ValueError: a setting pydantic refused
        reason = " ".join(str(exc).split())
        # One write per line: several workers share one stderr, and print() writes the line and its
        # end apart, so their lines could run into each other.
        sys.stderr.write(
            f"lbp-triage: cannot start: {reason.rstrip('.')}. (With docker compose: copy "
            ".env.example to .env and fill it in.)\n"
        )
        sys.stderr.flush()
        # uvicorn's "startup failure" status: a multi-worker parent stops too instead of respawning.
        sys.exit(3)


app = _app_or_exit()
