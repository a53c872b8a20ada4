"""Webhooks: FHIR Subscriptions and the outbox of their notifications.

Revision ID: 20261125_0002
Revises: 20261125_0001
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "20261125_0002"
down_revision = "20261125_0001"
branch_labels = None
depends_on = None

Json = sa.JSON().with_variant(JSONB(), "postgresql")
RowId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "webhook_subscription",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("topic", sa.String(255), nullable=False),
        sa.Column("patient", sa.String(64), nullable=True),
        sa.Column("dispositions", Json, nullable=True),
        sa.Column("end", sa.DateTime(timezone=True), nullable=True),
        sa.Column("endpoint", sa.String(2048), nullable=False),
        sa.Column("content", sa.String(16), nullable=False),
        sa.Column("headers", Json, nullable=False),
        sa.Column("secret", sa.String(128), nullable=False),
        sa.Column("base_url", sa.String(1024), nullable=False),
        sa.Column("resource", Json, nullable=False),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version_id", sa.Integer, nullable=False),
        sa.Column("error", sa.String(255), nullable=True),
        sa.Column("event_count", sa.BigInteger, nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("lease_owner", sa.String(128), nullable=True),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_webhook_subscription_status", "webhook_subscription", ["status"])
    op.create_table(
        "webhook_outbox",
        sa.Column("id", RowId, primary_key=True, autoincrement=True),
        sa.Column("message_id", sa.String(64), nullable=False),
        sa.Column("subscription_id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(24), nullable=False),
        sa.Column("event_number", sa.BigInteger, nullable=True),
        sa.Column("encounter_id", sa.String(64), nullable=True),
        sa.Column("careplan_id", sa.String(64), nullable=True),
        sa.Column("occurred", sa.DateTime(timezone=True), nullable=False),
        sa.Column("state", sa.String(12), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("last_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_status", sa.Integer, nullable=True),
        sa.Column("last_error", sa.String(255), nullable=True),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_webhook_outbox_queue", "webhook_outbox", ["subscription_id", "state", "event_number", "id"])


def downgrade() -> None:
    op.drop_table("webhook_outbox")
    op.drop_table("webhook_subscription")
