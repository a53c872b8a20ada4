"""The dispatchers' side of the outbox: claim work, record what happened.

The unit of work is a subscription, so that its notifications go out in order: a dispatcher
leases a subscription (lease_owner, lease_until), takes up to a batch of its pending rows in
order, delivers them one after the other, and records the results while releasing the lease.
A failed row keeps its place at the head of the queue and the whole subscription waits
(`next_attempt_at`); a dead row steps aside.

Claiming is one short transaction. On PostgreSQL it selects subscriptions with
`FOR UPDATE SKIP LOCKED`, so any number of workers claim side by side without waiting on or
taking each other's work; on SQLite (one writer at a time) the conditional UPDATE settles it.
No transaction stays open during HTTP calls. A dispatcher that dies holding a lease loses it
when the lease runs out (twice the delivery timeout, plus two seconds), and the rows it had
not recorded are delivered again: at least once, with the same webhook-id.

Event numbers are handed out here, in delivery order, by the lease holder; the handshake
is number 0 and goes first.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import Engine, bindparam, delete, exists, func, or_, select, update

from app.security.authority import Authority
from app.store.db import unbounded_transaction
from app.store.tables import ResourceVersion, TriageEncounter, WebhookOutbox, WebhookSubscription
from app.subscriptions.store import LIVE_STATUSES

S = WebhookSubscription.__table__
O = WebhookOutbox.__table__  # noqa: E741
T = TriageEncounter.__table__
V = ResourceVersion.__table__

_ROW_COLUMNS = (
    O.c.id,
    O.c.message_id,
    O.c.kind,
    O.c.event_number,
    O.c.encounter_id,
    O.c.careplan_id,
    O.c.occurred,
    O.c.attempts,
)
_SUBSCRIPTION_COLUMNS = (
    S.c.id,
    S.c.status,
    S.c.topic,
    S.c.endpoint,
    S.c.content,
    S.c.headers,
    S.c.secret,
    S.c.base_url,
    S.c.event_count,
    S.c.error,
    S.c.authority,
)
OUTSIDE_AUTHORITY = "Not sent: outside what the subscription's creator may read."


class QueuedRow(NamedTuple):
    id: int
    message_id: str
    kind: str
    event_number: int | None
    encounter_id: str | None
    careplan_id: str | None
    occurred: datetime
    attempts: int


@dataclass(slots=True)
class Claim:
    """One leased subscription and the rows to deliver to it, in order."""

    subscription: Any  # a row of _SUBSCRIPTION_COLUMNS (event_count as before this claim)
    rows: list[QueuedRow]
    lease_until: datetime
    event_count: int  # after numbering the rows of this claim
    resources: dict[str, tuple[dict[str, Any] | None, dict[str, Any] | None]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Attempt:
    row_id: int
    at: datetime
    status: int | None
    error: str | None = None
    dead: bool = False


@dataclass(frozen=True, slots=True)
class Result:
    """What happened to a claim: rows delivered in order, then at most one failure."""

    delivered: list[Attempt]
    failed: Attempt | None
    next_attempt_at: datetime | None
    status: str  # the subscription's status afterwards
    error: str | None
    gone: bool = False  # 410: the subscription is off and its queue dead


class DeliveryQueue:
    def __init__(self, engine: Engine, owner: str) -> None:
        self.engine = engine
        self.owner = owner
        self.postgres = engine.dialect.name == "postgresql"

    def claim(self, now: datetime, subscriptions: int, batch: int, lease: timedelta) -> list[Claim]:
        lease_until = now + lease
        free = or_(S.c.lease_until.is_(None), S.c.lease_until < now)
        due = or_(S.c.next_attempt_at.is_(None), S.c.next_attempt_at <= now)
        has_work = exists().where(O.c.subscription_id == S.c.id, O.c.state == "pending")
        candidates = (
            select(S.c.id)
            .where(S.c.status.in_(LIVE_STATUSES), free, due, has_work)
            .order_by(S.c.lease_until.asc().nulls_first(), S.c.id)
            .limit(subscriptions)
        )
        if self.postgres:
            candidates = candidates.with_for_update(skip_locked=True)
        with self.engine.begin() as connection:
            ids = list(connection.execute(candidates).scalars())
            if not ids:
                return []
            leased = connection.execute(
                update(S)
                .where(S.c.id.in_(ids), free)
                .values(lease_owner=self.owner, lease_until=lease_until)
                .returning(*_SUBSCRIPTION_COLUMNS)
            ).all()
            claims = [self._take_rows(connection, subscription, batch, lease_until) for subscription in leased]
            self._attach_resources(connection, claims)
        return [c for c in claims if c.rows]

    def _take_rows(self, connection: Any, subscription: Any, batch: int, lease_until: datetime) -> Claim:
        pending = (O.c.subscription_id == subscription.id) & (O.c.state == "pending")
        rows = self._within_authority(
            connection,
            subscription,
            [
                QueuedRow(*r)
                for r in connection.execute(
                    select(*_ROW_COLUMNS)
                    .where(pending, O.c.event_number.is_not(None))
                    .order_by(O.c.event_number)
                    .limit(batch)
                )
            ],
        )
        if len(rows) < batch:
            fresh = self._within_authority(
                connection,
                subscription,
                [
                    QueuedRow(*r)
                    for r in connection.execute(
                        select(*_ROW_COLUMNS)
                        .where(pending, O.c.event_number.is_(None))
                        .order_by(O.c.id)
                        .limit(batch - len(rows))
                    )
                ],
            )
            count = subscription.event_count
            numbers = []
            for row in fresh:
                count += 1
                numbers.append({"rid": row.id, "num": count})
                rows.append(row._replace(event_number=count))
            if numbers:
                connection.execute(
                    update(O).where(O.c.id == bindparam("rid")).values(event_number=bindparam("num")), numbers
                )
                connection.execute(update(S).where(S.c.id == subscription.id).values(event_count=count))
            return Claim(subscription, rows, lease_until, count)
        return Claim(subscription, rows, lease_until, subscription.event_count)

    @staticmethod
    def _within_authority(connection: Any, subscription: Any, rows: list[QueuedRow]) -> list[QueuedRow]:
        """The rows whose triage the subscription's creator may read; the others are set aside
        as dead, never sent (the criteria matched at triage time are not trusted alone)."""
        authority = Authority.from_json(subscription.authority)
        if authority.patient is None or not rows:
            return rows
        wanted = {r.encounter_id for r in rows if r.encounter_id}
        patients = (
            dict(connection.execute(select(T.c.encounter_id, T.c.patient).where(T.c.encounter_id.in_(wanted))).all())
            if wanted
            else {}
        )
        outside = [r.id for r in rows if r.encounter_id and not authority.covers(patients.get(r.encounter_id))]
        if outside:
            connection.execute(update(O).where(O.c.id.in_(outside)).values(state="dead", last_error=OUTSIDE_AUTHORITY))
        return [r for r in rows if r.id not in outside]

    def _attach_resources(self, connection: Any, claims: list[Claim]) -> None:
        # By CarePlan: a notification carries its own plan, as it is now. One whose plan an
        # amendment has replaced since carries that plan revoked (with the current Encounter).
        wanted = {
            r.careplan_id for c in claims if c.subscription.content == "full-resource" for r in c.rows if r.careplan_id
        }
        if not wanted:
            return
        found = {
            r.careplan_id: (r.careplan, r.encounter)
            for r in connection.execute(
                select(T.c.careplan_id, T.c.careplan, T.c.encounter).where(T.c.careplan_id.in_(wanted))
            )
        }
        if wanted - found.keys():
            replaced = {
                r.resource_id: (r.resource, r.encounter_id)
                for r in connection.execute(
                    select(V.c.resource_id, V.c.resource, V.c.encounter_id)
                    .where(V.c.resource_type == "CarePlan", V.c.resource_id.in_(wanted - found.keys()))
                    .order_by(V.c.version_id)
                )
            }  # the highest version, last, stays
            encounters = dict(
                connection.execute(
                    select(T.c.encounter_id, T.c.encounter).where(
                        T.c.encounter_id.in_({encounter_id for _, encounter_id in replaced.values()})
                    )
                ).all()
            )
            for careplan_id, (careplan, encounter_id) in replaced.items():
                found[careplan_id] = (careplan, encounters.get(encounter_id))
        for claim in claims:
            if claim.subscription.content == "full-resource":
                reads = Authority.from_json(claim.subscription.authority).reads
                claim.resources = {
                    r.careplan_id: _readable(found[r.careplan_id], reads)
                    for r in claim.rows
                    if r.careplan_id is not None and r.careplan_id in found
                }

    def record(self, claim: Claim, result: Result, now: datetime) -> bool:
        """Write the results and release the lease; False when the lease was lost meanwhile
        (another dispatcher took over after it ran out: its word stands)."""
        subscription = claim.subscription
        values: dict[str, Any] = {"lease_owner": None, "lease_until": now, "next_attempt_at": result.next_attempt_at}
        if result.status != subscription.status or result.error != subscription.error:
            values.update(status=result.status, error=result.error, updated=now, version_id=S.c.version_id + 1)
        with self.engine.begin() as connection:
            released = connection.execute(
                update(S).where(S.c.id == subscription.id, S.c.lease_owner == self.owner).values(**values)
            ).rowcount
            if not released:
                return False
            if result.delivered:
                connection.execute(
                    update(O)
                    .where(O.c.id == bindparam("rid"))
                    .values(
                        state="delivered",
                        attempts=O.c.attempts + 1,
                        last_attempt_at=bindparam("at"),
                        last_status=bindparam("status"),
                        last_error=None,
                        delivered_at=bindparam("at"),
                    ),
                    [{"rid": a.row_id, "at": a.at, "status": a.status} for a in result.delivered],
                )
            failed = result.failed
            if failed is not None:
                connection.execute(
                    update(O)
                    .where(O.c.id == failed.row_id)
                    .values(
                        state="dead" if failed.dead else "pending",
                        attempts=O.c.attempts + 1,
                        last_attempt_at=failed.at,
                        last_status=failed.status,
                        last_error=failed.error,
                    )
                )
            if result.gone:
                connection.execute(
                    update(O)
                    .where(O.c.subscription_id == subscription.id, O.c.state == "pending")
                    .values(state="dead", last_error="Subscription off: the receiver answered 410.")
                )
        return True

    def holds_lease(self, subscription_id: str) -> bool:
        """Still ours (and not deleted)?"""
        query = select(S.c.id).where(S.c.id == subscription_id, S.c.lease_owner == self.owner)
        with self.engine.connect() as connection:
            return connection.execute(query).first() is not None

    def queue_depth(self) -> int:
        with self.engine.connect() as connection:
            return connection.execute(select(func.count()).select_from(O).where(O.c.state == "pending")).scalar_one()

    def purge_delivered(self, before: datetime) -> int:
        """Delivered rows leave the delivery log after the retention period. Housekeeping, not a
        request: a large backlog may take longer than the request timeouts allow."""
        with unbounded_transaction(self.engine, wait_on_locks=False) as connection:  # a locked row: next time
            return connection.execute(delete(O).where(O.c.state == "delivered", O.c.delivered_at < before)).rowcount


Stored = dict[str, Any] | None


def _readable(resources: tuple[Stored, Stored], reads: frozenset[str]) -> tuple[Stored, Stored]:
    """The (CarePlan, Encounter) of a notification, each only if the subscription's creator may read its type."""
    careplan, encounter = resources
    return (careplan if "CarePlan" in reads else None, encounter if "Encounter" in reads else None)


def utcnow() -> datetime:
    return datetime.now(UTC)
