"""Every error is an OperationOutcome with the right status, and never a stack trace.

The service's own errors are FhirErrors (app/fhir/outcome.py), answered by one handler; the
framework's and the database's are answered here as the FhirError they amount to, through
the same `problem_response`."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from sqlalchemy.exc import DataError, DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from app.fhir.http import ClientGone, FhirResponse
from app.fhir.outcome import Fault, FhirError, HttpProblem, Rejected, operation_outcome

log = logging.getLogger("lbp_triage.errors")

# An error answer lists at most this many issues, then says how many more there were: a body
# full of faults must not draw an answer many times its size.
MAX_ISSUES = 100

_STATUS_CODES = {  # HTTP status → FHIR issue type
    400: "invalid",
    401: "login",
    403: "forbidden",
    404: "not-found",
    405: "not-supported",
    406: "not-supported",
    408: "timeout",
    409: "conflict",
    412: "conflict",
    413: "too-costly",
    415: "not-supported",
    422: "processing",
    429: "throttled",
}


def capped(faults: Iterable[Fault]) -> list[Fault]:
    faults = list(faults)
    if len(faults) <= MAX_ISSUES:
        return faults
    more = len(faults) - MAX_ISSUES
    return [
        *faults[:MAX_ISSUES],
        Fault(
            "informational",
            f"{more} more issue{'s' if more > 1 else ''} not listed; fix those above and send again.",
            severity="information",
        ),
    ]


def problem_response(problem: FhirError) -> FhirResponse:
    """The answer to every error: its OperationOutcome (issues capped), status and headers."""
    return FhirResponse(operation_outcome(capped(problem.faults)), status_code=problem.status, headers=problem.headers)


async def _problem(request: Request, exc: FhirError) -> Response:
    return problem_response(exc)


async def _client_gone(request: Request, exc: ClientGone) -> Response:
    # Logged by the access layer with this status; no error, no stack trace: nobody failed.
    return Response(status_code=499)


async def _http_exception(request: Request, exc: HTTPException) -> Response:
    if exc.status_code == 404:
        text = "No such resource or endpoint."
    elif exc.status_code == 405:
        text = f"The method {request.method} is not allowed here."
    else:
        text = str(exc.detail)
    code = _STATUS_CODES.get(exc.status_code, "exception")
    return problem_response(HttpProblem(exc.status_code, code, text, dict(exc.headers or {})))


async def _validation(request: Request, exc: RequestValidationError) -> Response:
    faults = [Fault("invalid", f"Invalid request {'.'.join(map(str, e['loc']))}: {e['msg']}.") for e in exc.errors()]
    return problem_response(Rejected(faults, 400))


def _missing_table(exc: Exception) -> bool:
    """The schema is not there (never migrated, or migrated down): PostgreSQL's undefined_table,
    SQLite's "no such table"."""
    orig = getattr(exc, "orig", None)
    return getattr(orig, "sqlstate", None) == "42P01" or "no such table" in str(orig)


async def _database_unavailable(request: Request, exc: Exception) -> Response:
    if isinstance(exc, DBAPIError) and _missing_table(exc):
        log.error("database not migrated", extra={"error": type(exc).__name__})
        return problem_response(
            HttpProblem(
                503,
                "transient",
                "The service is unavailable: database not migrated (its tables are missing). The "
                "operator must run `lbp-triage migrate` (see the operator's guide).",
                {"Retry-After": "30"},
            )
        )
    if isinstance(exc, DBAPIError) and not isinstance(exc, OperationalError) and not exc.connection_invalidated:
        return await _unexpected(request, exc)
    log.error("database unavailable", extra={"error": type(exc).__name__})
    return problem_response(
        HttpProblem(503, "transient", "The database is unavailable; try again shortly.", {"Retry-After": "5"})
    )


async def _unstorable(request: Request, exc: DataError) -> Response:
    # A value the database refuses (out of range, bad encoding): the request's fault.
    log.warning("database refused a value", extra={"error": type(exc.orig).__name__})
    return problem_response(HttpProblem(400, "invalid", "The request holds a value that cannot be stored."))


async def _unexpected(request: Request, exc: Exception) -> Response:
    reference = uuid.uuid4().hex[:12]
    log.error(
        "unhandled error", extra={"reference": reference, "error": type(exc).__name__}, exc_info=(type(exc), exc, None)
    )  # no traceback locals, no request data
    return problem_response(
        HttpProblem(500, "exception", f"An internal error occurred (reference {reference}); it has been logged.")
    )


def install(app: FastAPI) -> None:
    app.add_exception_handler(FhirError, _problem)  # type: ignore[arg-type]
    app.add_exception_handler(ClientGone, _client_gone)  # type: ignore[arg-type]
    app.add_exception_handler(HTTPException, _http_exception)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _validation)  # type: ignore[arg-type]
    app.add_exception_handler(OperationalError, _database_unavailable)
    app.add_exception_handler(PoolTimeout, _database_unavailable)
    app.add_exception_handler(DataError, _unstorable)  # type: ignore[arg-type]
    app.add_exception_handler(DBAPIError, _database_unavailable)
    app.add_exception_handler(Exception, _unexpected)
