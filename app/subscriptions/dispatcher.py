"""The dispatcher: delivers the outbox, in-process (default) or as `lbp-triage worker`.

It leases subscriptions that have pending notifications (up to LBP_WEBHOOK_CONCURRENCY at a
time), sends each one's notifications in order, one after the other, and records the results.
A failure stops that subscription's queue until the retry is due (exponential backoff from
LBP_WEBHOOK_RETRY_SCHEDULE with up to 20% jitter, or longer when the receiver's Retry-After
asks for it); after the last retry the notification is kept as dead and the queue moves on.
A 410 Gone turns the subscription off. The subscription's status tells how it goes:
`requested` until the handshake is answered, `active` while deliveries succeed, `error`
while they fail.

Stopping is clean: no new delivery starts, those in flight finish (within the timeout) and
are recorded. A crash loses nothing either: see app/subscriptions/outbox.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import socket
import time
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import anyio
import httpx
import orjson
from sqlalchemy import Engine

from app.kit.keyring import Keyring, SealedValueError
from app.settings import Settings, keyring_for
from app.subscriptions import metrics, signing
from app.subscriptions.delivery import Answer, make_client, send
from app.subscriptions.notifications import EVENT, HANDSHAKE, Event, notification_bundle, status_parameters
from app.subscriptions.outbound import OutboundPolicy, Refused
from app.subscriptions.outbox import Attempt, Claim, DeliveryQueue, QueuedRow, Result, utcnow
from app.subscriptions.sealing import open_headers, open_secret

log = logging.getLogger("lbp_triage.webhooks")

MAX_RETRY_AFTER = 24 * 3600.0
HOUSEKEEPING_SECONDS = 600.0
QUEUE_DEPTH_SECONDS = 10.0
LEASE_CHECK_SECONDS = 1.0


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Dispatcher:
    def __init__(
        self,
        engine: Engine,
        settings: Settings,
        policy: OutboundPolicy | None = None,
        owner: str | None = None,
        ready: Callable[[], bool] | None = None,
        keyring: Keyring | None = None,
    ) -> None:
        self.keyring = keyring or keyring_for(settings)  # opens the sealed secrets and headers
        self.queue = DeliveryQueue(engine, owner or worker_name())
        self.ready = ready  # is the schema migrated? (checked until it is)
        self.policy = policy or OutboundPolicy.from_setting(settings.webhook_allowed_hosts)
        self.timeout = settings.webhook_timeout_seconds
        self.delays = settings.webhook_retry_delays
        self.poll_seconds = settings.webhook_poll_seconds
        self.concurrency = settings.webhook_concurrency
        self.batch = settings.webhook_batch_size
        self.retention = timedelta(days=settings.webhook_retention_days)
        # Long enough for a delivery and its recording; a chain sends only while one more fits.
        self.lease = timedelta(seconds=2 * self.timeout + 2)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._stopping = False
        self._chains: set[asyncio.Task[None]] = set()
        self.delivered = 0  # notifications this dispatcher delivered (for tests and the benchmark)
        self._clients: list[httpx.AsyncClient] = []  # one per delivery lane, made as needed
        self._idle_clients: list[httpx.AsyncClient] = []

    # --- control, callable from any thread ---------------------------------------------

    def wake(self) -> None:
        """New rows were committed: look now rather than at the next poll."""
        loop, event = self._loop, self._wake
        if loop is not None and event is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(event.set)

    def stop(self) -> None:
        """Start no new delivery; `run` returns once those in flight are recorded."""
        self._stopping = True
        self.wake()

    # --- the loop -----------------------------------------------------------------------

    async def run(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        if self._stopping:  # stopped before it started
            return
        log.info("webhook dispatcher started", extra={"owner": self.queue.owner})
        next_housekeeping = next_depth = 0.0
        try:
            healthy = True
            while not self._stopping:
                claimed = 0
                try:
                    if self.ready is not None:
                        if not await anyio.to_thread.run_sync(self.ready):
                            await self._idle()
                            continue
                        self.ready = None
                    free = self.concurrency - len(self._chains)
                    if free > 0:
                        claims = await anyio.to_thread.run_sync(
                            self.queue.claim, utcnow(), free, self.batch, self.lease
                        )
                        claimed = len(claims)
                        for claim in claims:
                            task = asyncio.create_task(self._deliver(claim))
                            self._chains.add(task)
                            task.add_done_callback(self._chain_done)
                    now = time.monotonic()
                    if now >= next_depth:
                        next_depth = now + QUEUE_DEPTH_SECONDS
                        metrics.QUEUE_DEPTH.set(await anyio.to_thread.run_sync(self.queue.queue_depth))
                    if now >= next_housekeeping:
                        next_housekeeping = now + HOUSEKEEPING_SECONDS
                        await anyio.to_thread.run_sync(self.queue.purge_delivered, utcnow() - self.retention)
                    if not healthy:
                        log.info("webhook dispatcher reaches the outbox again")
                        healthy = True
                except Exception as exc:  # the database is down, say: keep trying
                    if healthy:
                        log.error(
                            "webhook dispatcher cannot reach the outbox; retrying", extra={"error": type(exc).__name__}
                        )
                    healthy = False
                if claimed and len(self._chains) < self.concurrency:
                    continue  # there may be more due right now
                await self._idle()
            if self._chains:
                await asyncio.gather(*self._chains, return_exceptions=True)
        finally:
            for client in self._clients:
                await client.aclose()
        log.info("webhook dispatcher stopped", extra={"owner": self.queue.owner})

    async def _idle(self) -> None:
        assert self._wake is not None
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), self.poll_seconds)
        self._wake.clear()

    def _chain_done(self, task: asyncio.Task[None]) -> None:
        self._chains.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("webhook delivery failed unexpectedly", extra={"error": type(task.exception()).__name__})
        if self._wake is not None:
            self._wake.set()

    # --- one subscription's chain --------------------------------------------------------

    async def _deliver(self, claim: Claim) -> None:
        sub = claim.subscription
        delivered: list[Attempt] = []
        failed: Attempt | None = None
        answer: Answer | None = None
        try:
            target = await self.policy.resolve(sub.endpoint)
        except Refused:
            target = None
            answer = Answer(False, None, "refused: the endpoint's address is not allowed")
            failed = Attempt(claim.rows[0].id, utcnow(), None, answer.error)
        if target is not None:
            try:
                key = signing.secret_key(open_secret(self.keyring, sub.secret))
                custom_headers = open_headers(self.keyring, sub.headers)
            except SealedValueError:
                log.error(
                    "a subscription's secret cannot be opened: its key is not configured (LBP_SECRET_KEY)",
                    extra={"subscription": sub.id},
                )
                target = None
                answer = Answer(False, None, "refused: the signing secret cannot be opened with the configured keys")
                failed = Attempt(claim.rows[0].id, utcnow(), None, answer.error)
        if target is not None:
            lease_end = claim.lease_until.timestamp()
            client = self._idle_clients.pop() if self._idle_clients else self._new_client()
            checked = time.monotonic()
            try:
                for row in claim.rows:
                    if self._stopping or time.time() + self.timeout + 1 > lease_end:
                        break
                    if time.monotonic() - checked > LEASE_CHECK_SECONDS:
                        # a long chain makes sure its subscription was not deleted meanwhile
                        if not await anyio.to_thread.run_sync(self.queue.holds_lease, sub.id):
                            break
                        checked = time.monotonic()
                    body = orjson.dumps(self._notification(claim, row, delivered))
                    answer = await send(
                        client,
                        target,
                        key=key,
                        message_id=row.message_id,
                        body=body,
                        custom_headers=custom_headers,
                        timeout=self.timeout,
                    )
                    metrics.DURATION.observe(answer.seconds)
                    if answer.ok:
                        delivered.append(Attempt(row.id, utcnow(), answer.status))
                        metrics.DELIVERIES.labels(row.kind).inc()
                        self.delivered += 1
                        continue
                    failed = Attempt(row.id, utcnow(), answer.status, answer.error)
                    break
            finally:
                self._idle_clients.append(client)
        result = self._result(claim, delivered, failed, answer)
        try:
            recorded = await anyio.to_thread.run_sync(self.queue.record, claim, result, utcnow())
        except Exception as exc:  # unrecorded deliveries are sent again once the lease runs out
            log.error("webhook results not recorded", extra={"subscription": sub.id, "error": type(exc).__name__})
            return
        if not recorded:
            log.warning("webhook lease lost before recording", extra={"subscription": sub.id})

    def _new_client(self) -> httpx.AsyncClient:
        client = make_client()
        self._clients.append(client)
        return client

    def _notification(self, claim: Claim, row: QueuedRow, delivered: list[Attempt]) -> dict[str, Any]:
        sub = claim.subscription
        status = sub.status
        if delivered and status != "active":
            status = "active"  # this very chain got through already
        event = None
        if row.kind == EVENT:
            careplan, encounter = claim.resources.get(row.careplan_id or "", (None, None))
            event = Event(
                row.event_number or 0, row.occurred, row.careplan_id or "", row.encounter_id or "", careplan, encounter
            )
        parameters = status_parameters(
            base_url=sub.base_url,
            subscription_id=sub.id,
            topic=sub.topic,
            status=status,
            kind=HANDSHAKE if row.kind == HANDSHAKE else EVENT,
            events_since_start=claim.event_count,
            event=event,
        )
        return notification_bundle(
            parameters,
            base_url=sub.base_url,
            subscription_id=sub.id,
            now=utcnow(),
            event=event,
            full_resource=sub.content == "full-resource",
        )

    def _result(self, claim: Claim, delivered: list[Attempt], failed: Attempt | None, answer: Answer | None) -> Result:
        sub = claim.subscription
        if failed is None:
            status = "active" if delivered else sub.status
            return Result(delivered, None, None, status, None if delivered else sub.error)
        assert answer is not None
        row = next(r for r in claim.rows if r.id == failed.row_id)
        metrics.FAILURES.labels(metrics.failure_reason(answer.status, answer.error)).inc()
        log.warning(
            "webhook delivery failed",
            extra={
                "subscription": sub.id,
                "webhook_id": row.message_id,
                "status": answer.status,
                "error": answer.error,
                "attempt": row.attempts + 1,
            },
        )
        if answer.status == 410:
            metrics.DEACTIVATED.inc()
            metrics.DEAD.inc()
            gone = Attempt(failed.row_id, failed.at, 410, "HTTP 410: the receiver is gone", dead=True)
            return Result(
                delivered, gone, None, "off", "The receiver answered 410 Gone; deliveries stopped.", gone=True
            )
        error = f"Delivery failing: {answer.error}."
        if row.attempts < len(self.delays):
            delay = self.delays[row.attempts] * random.uniform(1.0, 1.2)
            if answer.retry_after is not None:
                delay = max(delay, min(answer.retry_after, MAX_RETRY_AFTER))
            metrics.RETRIES.inc()
            return Result(delivered, failed, failed.at + timedelta(seconds=delay), "error", error)
        metrics.DEAD.inc()
        log.warning(
            "webhook notification dead after its last attempt",
            extra={"subscription": sub.id, "webhook_id": row.message_id},
        )
        dead = Attempt(failed.row_id, failed.at, failed.status, failed.error, dead=True)
        return Result(delivered, dead, None, "error", error)
