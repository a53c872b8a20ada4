"""Webhook test tools: a real HTTP receiver on loopback, dispatchers to start and stop,
subscriptions to create, and checks of what the receiver got."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks import Webhook

from app.services import services
from app.subscriptions.dispatcher import Dispatcher
from app.subscriptions.outbound import OutboundPolicy
from app.subscriptions.resources import FILTER_CRITERIA_URL, PAYLOAD_CONTENT_URL, SECRET_EXTENSION_URL
from app.subscriptions.topics import TRIAGE_COMPLETED
from tests.support import FHIR_JSON, assert_fhir_response

# Short waits so that retries and outages take a fraction of a second.
FAST = {
    "webhook_retry_schedule": "0.05,0.1,0.1,0.2,0.2,0.3,0.3,0.5",
    "webhook_timeout_seconds": 2.0,
    "webhook_poll_seconds": 0.05,
    "webhook_allowed_hosts": "127.0.0.1",
}


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    status: int = 0  # what the receiver answered
    at: float = field(default_factory=time.monotonic)

    @property
    def bundle(self) -> dict[str, Any]:
        return json.loads(self.body)

    @property
    def status_parameters(self) -> dict[str, Any]:
        return self.bundle["entry"][0]["resource"]

    def parameter(self, name: str) -> Any:
        for p in self.status_parameters["parameter"]:
            if p["name"] == name:
                return p
        return None

    @property
    def kind(self) -> str:
        return self.parameter("type")["valueCode"]

    @property
    def event_number(self) -> int | None:
        event = self.parameter("notification-event")
        if event is None:
            return None
        return int(next(p["valueString"] for p in event["part"] if p["name"] == "event-number"))

    @property
    def focus(self) -> str | None:
        event = self.parameter("notification-event")
        if event is None:
            return None
        return next(p["valueReference"]["reference"] for p in event["part"] if p["name"] == "focus")


@dataclass(frozen=True)
class Reply:
    status: int = 204
    headers: tuple[tuple[str, str], ...] = ()
    delay: float = 0.0


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # e.g. a client that gave up waiting


class Receiver:
    """A real HTTP/1.1 server on 127.0.0.1. `behaviour(request, n)` decides each answer
    (n counts the requests to that path, from 1); by default 204."""

    def __init__(self) -> None:
        self.requests: list[Received] = []
        self.behaviour: Callable[[Received, int], Reply] = lambda request, n: Reply()
        self.in_flight: dict[str, int] = {}
        self.overlaps: list[str] = []  # webhook-ids received while the same id was in flight
        self._counts: dict[str, int] = {}
        self._cond = threading.Condition()
        self._server: ThreadingHTTPServer | None = None
        self._connections: set[socket.socket] = set()
        self.port = 0
        self.start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                super().setup()
                receiver._connections.add(self.connection)

            def finish(self) -> None:
                receiver._connections.discard(self.connection)
                super().finish()

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                request = Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                reply = receiver._arrive(request)
                if reply.delay:
                    time.sleep(reply.delay)
                try:
                    self.send_response(reply.status)
                    for name, value in reply.headers:
                        self.send_header(name, value)
                    self.send_header("content-length", "0")
                    self.end_headers()
                finally:
                    receiver._leave(request, reply)

            def log_message(self, *args: Any) -> None:
                pass

        server = _QuietServer(("127.0.0.1", self.port), Handler)
        self.port = server.server_address[1]
        self._server = server
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def stop(self) -> None:
        """Down: connections are refused until start() (same port)."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        for connection in list(self._connections):  # kept-alive connections go down too
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)

    def _arrive(self, request: Received) -> Reply:
        with self._cond:
            message_id = request.headers.get("webhook-id", "")
            if self.in_flight.get(message_id):
                self.overlaps.append(message_id)
            self.in_flight[message_id] = self.in_flight.get(message_id, 0) + 1
            self._counts[request.path] = self._counts.get(request.path, 0) + 1
            n = self._counts[request.path]
        reply = self.behaviour(request, n)
        request.status = reply.status
        return reply

    def _leave(self, request: Received, reply: Reply) -> None:
        with self._cond:
            self.in_flight[request.headers.get("webhook-id", "")] -= 1
            self.requests.append(request)
            self._cond.notify_all()

    def wait_for(self, predicate: Callable[[Receiver], bool], timeout: float = 15.0) -> None:
        with self._cond:
            ok = self._cond.wait_for(lambda: predicate(self), timeout)
        assert ok, f"the receiver did not get what was expected in {timeout} s ({len(self.requests)} requests)"

    def at(self, path: str, accepted_only: bool = True) -> list[Received]:
        with self._cond:
            return [r for r in self.requests if r.path == path and (not accepted_only or 200 <= r.status < 300)]

    def events(self, path: str) -> list[Received]:
        """Accepted event notifications at a path, deduplicated by webhook-id (as a receiver would)."""
        seen: dict[str, Received] = {}
        for r in self.at(path):
            if r.kind == "event-notification":
                seen.setdefault(r.headers["webhook-id"], r)
        return list(seen.values())


def secret() -> str:
    return "whsec_" + base64.b64encode(os.urandom(32)).decode()


def subscription_body(
    endpoint: str,
    *,
    topic: str = TRIAGE_COMPLETED,
    filters: tuple[str, ...] = (),
    content: str = "id-only",
    secret_value: str | None = None,
    headers: tuple[str, ...] = (),
) -> dict[str, Any]:
    channel: dict[str, Any] = {
        "type": "rest-hook",
        "endpoint": endpoint,
        "payload": FHIR_JSON,
        "_payload": {"extension": [{"url": PAYLOAD_CONTENT_URL, "valueCode": content}]},
    }
    if headers:
        channel["header"] = list(headers)
    if secret_value:
        channel["extension"] = [{"url": SECRET_EXTENSION_URL, "valueString": secret_value}]
    body: dict[str, Any] = {
        "resourceType": "Subscription",
        "status": "requested",
        "reason": "Test receiver",
        "criteria": topic,
        "channel": channel,
    }
    if filters:
        body["_criteria"] = {"extension": [{"url": FILTER_CRITERIA_URL, "valueString": f} for f in filters]}
    return body


def subscribe(client: Any, endpoint: str, **options: Any) -> dict[str, Any]:
    r = client.post(
        "/fhir/Subscription", json=subscription_body(endpoint, **options), headers={"Content-Type": FHIR_JSON}
    )
    return assert_fhir_response(r, 201, "Subscription")


def secret_of(subscription: dict[str, Any]) -> str:
    return next(e["valueString"] for e in subscription["channel"]["extension"] if e["url"] == SECRET_EXTENSION_URL)


def verify(request: Received, secret_value: str) -> dict[str, Any]:
    """As a receiver does, with the standardwebhooks package; raises if the signature is wrong."""
    return Webhook(secret_value).verify(request.body, request.headers)


class RunningDispatcher:
    """A Dispatcher on its own event loop in a thread, as a worker would run it; `listeners`
    (an Outbox's) wake it up when rows are committed."""

    def __init__(
        self, engine: Any, settings: Any, owner: str | None = None, listeners: list[Callable[[], None]] | None = None
    ) -> None:
        self.dispatcher = Dispatcher(
            engine, settings, OutboundPolicy.from_setting(settings.webhook_allowed_hosts), owner=owner
        )
        self.listeners = listeners
        if listeners is not None:
            listeners.append(self.dispatcher.wake)
        self.thread = threading.Thread(target=asyncio.run, args=(self.dispatcher.run(),), daemon=True)
        self.thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        if self.listeners is not None:
            self.listeners.remove(self.dispatcher.wake)
        self.dispatcher.stop()
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "the dispatcher did not stop"


def start_dispatcher(app: Any, **overrides: Any) -> RunningDispatcher:
    settings = app.state.settings.model_copy(update={**FAST, **overrides})
    return RunningDispatcher(services(app).engine, settings, listeners=services(app).subscriptions.outbox.listeners)


def drained(app: Any) -> bool:
    """No notification is pending any more."""
    from sqlalchemy import func, select

    from app.store.tables import WebhookOutbox

    with services(app).engine.connect() as conn:
        return (
            conn.execute(
                select(func.count()).select_from(WebhookOutbox).where(WebhookOutbox.state == "pending")
            ).scalar_one()
            == 0
        )


def wait_until(condition: Callable[[], bool], timeout: float = 15.0, interval: float = 0.02) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(interval)
