"""Prometheus metrics of webhook delivery, in the default registry: whatever serves the
service's /metrics (prometheus_client's generate_latest) exposes them with the rest."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

DELIVERIES = Counter("lbp_webhook_deliveries", "Notifications delivered (a 2xx answer), by type.", ["type"])
FAILURES = Counter(
    "lbp_webhook_delivery_failures",
    "Delivery attempts that failed, by reason: http_4xx, http_5xx, redirect, timeout, connection, refused.",
    ["reason"],
)
RETRIES = Counter("lbp_webhook_retries", "Failed notifications scheduled for another attempt.")
DEAD = Counter(
    "lbp_webhook_dead", "Notifications kept as dead after their last attempt (or when their subscription went off)."
)
DEACTIVATED = Counter(
    "lbp_webhook_subscriptions_deactivated", "Subscriptions turned off because the receiver answered 410 Gone."
)
QUEUE_DEPTH = Gauge(
    "lbp_webhook_queue_depth",
    "Notifications waiting for delivery (pending in the outbox), as last counted.",
    multiprocess_mode="livemostrecent",
)
DURATION = Histogram(
    "lbp_webhook_delivery_seconds",
    "Time of one delivery attempt, request to response.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15),
)


def failure_reason(status: int | None, error: str | None) -> str:
    if status is not None:
        if 300 <= status < 400:
            return "redirect"
        return "http_4xx" if status < 500 else "http_5xx"
    if error == "timeout":
        return "timeout"
    if error and error.startswith("refused"):
        return "refused"
    return "connection"
