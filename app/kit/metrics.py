"""Prometheus metrics: request counts and latency by route and status, triages by
disposition (webhook metrics live beside the dispatcher and share the registry).

GET /metrics serves them. With several uvicorn workers, set PROMETHEUS_MULTIPROC_DIR to a
shared empty directory so that /metrics sums all workers (prometheus_client's multiprocess
mode); without it each worker reports its own.
"""

from __future__ import annotations

import os
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from starlette.requests import Request
from starlette.responses import Response

REQUESTS = Counter("lbp_http_requests_total", "HTTP requests answered", ["method", "route", "status"])
LATENCY = Histogram(
    "lbp_http_request_duration_seconds",
    "Time to answer an HTTP request",
    ["method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
TRIAGES = Counter("lbp_triages_total", "Triages stored, by disposition", ["disposition"])
# Gauges keep the most recent value of a live process when several workers share
# PROMETHEUS_MULTIPROC_DIR (one series, not one per process id).
DATABASE_UP = Gauge(
    "lbp_database_up",
    "1 when the database answered (and is migrated) at the last /readyz or /metrics, else 0.",
    multiprocess_mode="livemostrecent",
)


_triage_counters: dict[str, Any] = {}


def count_triage(disposition: str) -> None:
    """One more stored triage of this disposition (the labelled child looked up once per
    disposition: prometheus_client's labels() takes a lock and builds a key every call)."""
    counter = _triage_counters.get(disposition)
    if counter is None:
        counter = _triage_counters[disposition] = TRIAGES.labels(disposition)
    counter.inc()


class RequestMetrics:
    """Counts and times HTTP requests by route template (never the raw path, which holds ids,
    nor the query string). The access layer (app/security/access.py) calls it once per request."""

    def __init__(self) -> None:
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    def count(self, method: str, template: str, status: int, seconds: float) -> None:
        key = (method, template, status)
        children = self._children.get(key)
        if children is None:
            children = self._children[key] = (
                REQUESTS.labels(method, template, str(status)),
                LATENCY.labels(method, template),
            )
        children[0].inc()
        children[1].observe(seconds)


def metrics_response(request: Request) -> Response:
    registry: CollectorRegistry = REGISTRY
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
