"""Subscriptions, and the outbox rows each triage writes for them.

The API keeps the subscriptions that can receive events (every status but `off`) in memory:
a triage matches them with no query at all, and with no subscriptions it does no work. The
copy is reloaded after a change made through this process, and at most every
LBP_WEBHOOK_SUBSCRIPTION_REFRESH_SECONDS for changes made elsewhere (other replicas, workers).
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, and_, delete, func, insert, select, update

from app.kit.keyring import Keyring
from app.store.tables import WebhookOutbox, WebhookSubscription
from app.subscriptions import signing
from app.subscriptions.notifications import EVENT, HANDSHAKE
from app.subscriptions.resources import NewSubscription
from app.subscriptions.sealing import opened, resource_without_headers, seal_headers, seal_secret
from app.subscriptions.topics import Criteria

S = WebhookSubscription.__table__
O = WebhookOutbox.__table__  # noqa: E741

LIVE_STATUSES = ("requested", "active", "error")


@dataclass(frozen=True, slots=True)
class Delivery:
    """One row of a subscription's delivery log."""

    message_id: str
    kind: str
    event_number: int | None
    careplan_id: str | None
    occurred: datetime
    state: str
    attempts: int
    last_attempt_at: datetime | None
    last_status: int | None
    last_error: str | None
    delivered_at: datetime | None


class SubscriptionIndex:
    """The live subscriptions' criteria, cached; thread-safe."""

    def __init__(self, engine: Engine, refresh_seconds: float) -> None:
        self.engine = engine
        self.refresh_seconds = refresh_seconds
        self._lock = threading.Lock()
        self._loaded_at = float("-inf")
        self._entries: tuple[tuple[str, Criteria], ...] = ()

    def invalidate(self) -> None:
        self._loaded_at = float("-inf")

    def current(self) -> tuple[tuple[str, Criteria], ...]:
        if time.monotonic() - self._loaded_at >= self.refresh_seconds:
            with self._lock:
                if time.monotonic() - self._loaded_at >= self.refresh_seconds:
                    started = time.monotonic()
                    self._entries = self._load()
                    self._loaded_at = started
        return self._entries

    def _load(self) -> tuple[tuple[str, Criteria], ...]:
        query = (
            select(S.c.id, S.c.topic, S.c.patient, S.c.dispositions, S.c.end)
            .where(S.c.status.in_(LIVE_STATUSES))
            .order_by(S.c.id)
        )
        with self.engine.connect() as connection:
            rows = connection.execute(query).all()
        return tuple(
            (r.id, Criteria(r.topic, r.patient, frozenset(r.dispositions) if r.dispositions else None, r.end))
            for r in rows
        )


class Outbox:
    """Turns a stored triage into one outbox row per matching subscription."""

    def __init__(self, index: SubscriptionIndex) -> None:
        self.index = index
        self.listeners: list[Callable[[], None]] = []  # told after rows are committed (dispatcher wake-up)

    def rows_for_triage(self, row: dict[str, Any]) -> list[dict[str, Any]]:
        subscriptions = self.index.current()
        if not subscriptions:
            return []
        created, encounter_id = row["created"], row["encounter_id"]
        # One event per CarePlan: the first triage keeps the encounter as its event key (the
        # webhook-ids already sent stay valid); each re-triage of an amended response is an
        # event of its own, never deduplicated away as the first one again.
        event = encounter_id if row.get("version_id", 1) == 1 else f"{encounter_id}|{row['careplan_id']}"
        return [
            {
                "message_id": signing.message_id(subscription_id, event),
                "subscription_id": subscription_id,
                "kind": EVENT,
                "event_number": None,
                "encounter_id": encounter_id,
                "careplan_id": row["careplan_id"],
                "occurred": created,
                "state": "pending",
                "attempts": 0,
            }
            for subscription_id, criteria in subscriptions
            if criteria.matches(row["patient"], row["disposition"], created)
        ]

    def written(self) -> None:
        for listener in self.listeners:
            listener()


def _now() -> datetime:
    return datetime.now(UTC)


class SubscriptionRepository:
    def __init__(self, engine: Engine, index: SubscriptionIndex, outbox: Outbox, keyring: Keyring) -> None:
        self.engine = engine
        self.index = index
        self.outbox = outbox
        self.keyring = keyring  # the secret and the channel headers are sealed at rest

    def create(self, new: NewSubscription, base_url: str, authority: dict[str, Any]) -> Any:
        """Store a subscription (status `requested`) with its creator's authority, and its
        handshake, in one transaction."""
        now = _now()
        subscription_id = str(uuid.uuid4())
        criteria = new.criteria
        row = {
            "id": subscription_id,
            "status": "requested",
            "topic": criteria.topic,
            "patient": criteria.patient,
            "dispositions": sorted(criteria.dispositions) if criteria.dispositions is not None else None,
            "end": criteria.end,
            "endpoint": new.endpoint,
            "content": new.content,
            "headers": seal_headers(self.keyring, new.headers),
            "secret": seal_secret(self.keyring, new.secret),
            "base_url": base_url,
            "resource": resource_without_headers(new.resource),
            "created": now,
            "updated": now,
            "version_id": 1,
            "error": None,
            "event_count": 0,
            "authority": authority,
        }
        handshake = {
            "message_id": signing.message_id(subscription_id, HANDSHAKE),
            "subscription_id": subscription_id,
            # number 0: the handshake goes before every event, even when sent again
            "kind": HANDSHAKE,
            "event_number": 0,
            "occurred": now,
            "state": "pending",
            "attempts": 0,
        }
        with self.engine.begin() as connection:
            connection.execute(insert(S), row)
            connection.execute(insert(O), handshake)
        self.index.invalidate()
        self.outbox.written()
        return self.read(subscription_id)

    def read(self, subscription_id: str) -> Any | None:
        with self.engine.connect() as connection:
            row = connection.execute(select(S).where(S.c.id == subscription_id)).one_or_none()
        return opened(row, self.keyring)

    def search(self, statuses: Sequence[str] | None) -> list[Any]:
        query = select(S).order_by(S.c.created.desc(), S.c.id)
        if statuses is not None:
            query = query.where(S.c.status.in_(statuses))
        with self.engine.connect() as connection:
            rows = connection.execute(query).all()
        return [opened(row, self.keyring) for row in rows]

    def delete(self, subscription_id: str) -> bool:
        """Remove the subscription and its queue: nothing more is delivered for it."""
        with self.engine.begin() as connection:
            gone = connection.execute(delete(S).where(S.c.id == subscription_id)).rowcount
            connection.execute(delete(O).where(O.c.subscription_id == subscription_id))
        self.index.invalidate()
        return bool(gone)

    def events_since_start(self, subscription_id: str, event_count: int) -> int:
        """Events numbered so far plus those still waiting for their number."""
        query = (
            select(func.count())
            .select_from(O)
            .where(O.c.subscription_id == subscription_id, O.c.state == "pending", O.c.event_number.is_(None))
        )
        with self.engine.connect() as connection:
            return event_count + connection.execute(query).scalar_one()

    def deliveries(self, subscription_id: str, state: str | None, count: int) -> list[Delivery]:
        query = (
            select(
                O.c.message_id,
                O.c.kind,
                O.c.event_number,
                O.c.careplan_id,
                O.c.occurred,
                O.c.state,
                O.c.attempts,
                O.c.last_attempt_at,
                O.c.last_status,
                O.c.last_error,
                O.c.delivered_at,
            )
            .where(O.c.subscription_id == subscription_id)
            .order_by(O.c.id.desc())
            .limit(count)
        )
        if state is not None:
            query = query.where(O.c.state == state)
        with self.engine.connect() as connection:
            return [Delivery(*r) for r in connection.execute(query).all()]

    def resend(self, subscription_id: str, message_ids: Sequence[str] | None) -> int:
        """Queue dead notifications again (all of them, or those named), to be sent at once."""
        condition = and_(O.c.subscription_id == subscription_id, O.c.state == "dead")
        if message_ids is not None:
            condition = and_(condition, O.c.message_id.in_(message_ids))
        with self.engine.begin() as connection:
            count = connection.execute(update(O).where(condition).values(state="pending", attempts=0)).rowcount
            if count:
                connection.execute(update(S).where(S.c.id == subscription_id).values(next_attempt_at=None))
        if count:
            self.outbox.written()
        return count
