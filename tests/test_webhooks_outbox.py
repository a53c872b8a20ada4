"""The outbox on the triage path: no cost without subscriptions, and a cached view of the
subscriptions that local changes refresh at once and remote ones within the refresh period."""

from sqlalchemy import event, update

from app.services import services
from app.store.tables import WebhookSubscription
from app.subscriptions.resources import parse_subscription
from app.subscriptions.store import Outbox, SubscriptionIndex, SubscriptionRepository
from tests.support import post_triage, response
from tests.webhook_support import subscription_body


def test_a_triage_without_subscriptions_runs_no_webhook_query(client, app):
    services(app).subscriptions.index.current()  # warm
    statements = []

    def note(connection, cursor, statement, *args):
        statements.append(statement.lower())

    event.listen(services(app).engine, "before_cursor_execute", note)
    try:
        assert post_triage(client, response()).status_code == 201
    finally:
        event.remove(services(app).engine, "before_cursor_execute", note)
    assert statements and not [s for s in statements if "webhook" in s]


def test_the_subscription_view_is_refreshed_by_local_changes_at_once_and_by_others_in_time(client, app):
    engine = services(app).engine
    index = SubscriptionIndex(engine, refresh_seconds=3600)
    outbox = Outbox(index)
    repository = SubscriptionRepository(engine, index, outbox, app.state.keyring)
    assert index.current() == ()
    created = repository.create(
        parse_subscription(subscription_body("http://127.0.0.1:9/")),
        "http://x/fhir",
        {"reads": ["CarePlan", "Encounter"], "patient": None},
    )
    assert [sid for sid, _ in index.current()] == [created.id]  # this process's change: seen at once

    with engine.begin() as conn:  # another process turns it off
        conn.execute(update(WebhookSubscription).values(status="off"))
    assert [sid for sid, _ in index.current()] == [created.id]  # not yet...
    index.refresh_seconds = 0
    assert index.current() == ()  # ...but after the refresh period
    row = {"created": created.created, "encounter_id": "e", "careplan_id": "c", "patient": "p", "disposition": "urgent"}
    assert outbox.rows_for_triage(row) == []


def test_delivered_notifications_past_retention_leave_the_delivery_log(client, app):
    """The dispatcher's housekeeping (DeliveryQueue.purge_delivered): delivered rows older than
    the cut-off go; newer ones, and those not delivered, stay."""
    from datetime import UTC, datetime, timedelta

    from sqlalchemy import func, insert, select

    from app.store.tables import WebhookOutbox
    from app.subscriptions.outbox import DeliveryQueue

    table = WebhookOutbox.__table__
    now = datetime.now(UTC)
    engine = services(app).engine

    def row(state, delivered_days_ago):
        delivered = None if delivered_days_ago is None else now - timedelta(days=delivered_days_ago)
        return {
            "message_id": f"m-{state}-{delivered_days_ago}",
            "subscription_id": "purge-test",
            "kind": "event-notification",
            "occurred": now - timedelta(days=40),
            "state": state,
            "attempts": 1,
            "delivered_at": delivered,
        }

    with engine.begin() as connection:
        connection.execute(
            insert(table), [row("delivered", 31), row("delivered", 32), row("delivered", 1), row("pending", None)]
        )
    assert DeliveryQueue(engine, "test").purge_delivered(now - timedelta(days=30)) == 2
    with engine.connect() as connection:
        left = connection.execute(
            select(table.c.state, func.count()).where(table.c.subscription_id == "purge-test").group_by(table.c.state)
        ).all()
    assert sorted(left) == [("delivered", 1), ("pending", 1)]
