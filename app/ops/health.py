"""Liveness and readiness for orchestrators and load balancers."""

from __future__ import annotations

import anyio
from fastapi import APIRouter, Request
from sqlalchemy import Engine
from starlette.responses import JSONResponse, Response

from app.kit.metrics import DATABASE_UP, metrics_response
from app.services import AppServices, Services
from app.settings import AppSettings
from app.store.sqlite_files import DatabaseFilesUnusable
from app.subscriptions.metrics import QUEUE_DEPTH
from app.subscriptions.outbox import DeliveryQueue

router = APIRouter(tags=["Operations"])


@router.get("/healthz", summary="Liveness: the process answers")
async def healthz() -> JSONResponse:
    return JSONResponse({"status": "ok"})


@router.get(
    "/readyz", summary="Readiness: the database answers and is migrated", responses={503: {"description": "Not ready"}}
)
async def readyz(settings: AppSettings, services: AppServices) -> JSONResponse:
    files = services.sqlite_files

    def check() -> bool:
        if files is not None:
            problems = files.problems()
            if problems:
                raise DatabaseFilesUnusable("; ".join(problems))
        services.repository.ping()
        migrated = services.schema_ready()
        if files is not None and migrated:
            prove_writable(services.engine)
        return migrated

    try:
        # The check's thread is abandoned past the timeout: the answer never waits for it.
        with anyio.fail_after(settings.readyz_timeout_seconds):
            migrated = await anyio.to_thread.run_sync(check, abandon_on_cancel=True)
    except DatabaseFilesUnusable as exc:  # the operator's next step is in the words
        return JSONResponse({"status": "unavailable", "database": str(exc)}, status_code=503)
    except Exception as exc:  # any failure means: not ready
        DATABASE_UP.set(0)
        return JSONResponse({"status": "unavailable", "database": type(exc).__name__}, status_code=503)
    if not migrated:
        DATABASE_UP.set(0)
        return JSONResponse(
            {"status": "unavailable", "database": "not migrated; run lbp-triage migrate"}, status_code=503
        )
    DATABASE_UP.set(1)
    audit = services.audit
    if audit.spool is not None and audit.spool.has_records():
        services.writer.submit(audit.replay)  # the database is back: write what was spooled
    return JSONResponse({"status": "ok"})


def prove_writable(engine: Engine) -> None:
    """A write that changes nothing, committed: the write path works (not read-only, WAL writable)."""
    with engine.begin() as connection:
        connection.exec_driver_sql("UPDATE alembic_version SET version_num = version_num")


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    description="Requests by route and status, latency, triages by disposition, webhook "
    "deliveries and queue depth, in the Prometheus text format.",
    responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
)
async def metrics(request: Request) -> Response:
    services: Services | None = getattr(request.app.state, "services", None)  # scraped before the lifespan too
    if services is None:
        return metrics_response(request)
    try:
        with anyio.fail_after(2):
            await anyio.to_thread.run_sync(services.repository.ping)
        DATABASE_UP.set(1 if services.schema_ready() else 0)
    except Exception:  # down, or too slow to count as up
        DATABASE_UP.set(0)
    audit = services.audit
    if audit.spool is not None:
        await anyio.to_thread.run_sync(audit.spool.measure)
    if services.dispatcher is None:
        # Deliveries happen in worker processes: count the queue here, at scrape time.
        try:
            with anyio.fail_after(2):
                depth = await anyio.to_thread.run_sync(DeliveryQueue(services.engine, "metrics").queue_depth)
            QUEUE_DEPTH.set(depth)
        except Exception:  # the database is down: keep the last value, the scrape still answers
            pass
    return metrics_response(request)
