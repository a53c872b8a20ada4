"""Hardening: subscriptions carry their creator's authority (what it may read), checked at
delivery; audit records of repeated refusals are aggregated (how many more were like it).

Subscriptions made before have no authority: they are delivered as references only.

Revision ID: 20261125_0007
Revises: 20261125_0006
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "20261125_0007"
down_revision = "20261125_0006"
branch_labels = None
depends_on = None

Json = sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("webhook_subscription") as batch:
        batch.add_column(sa.Column("authority", Json, nullable=True))
    with op.batch_alter_table("audit_event") as batch:
        batch.add_column(sa.Column("repeats", sa.Integer, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("audit_event") as batch:
        batch.drop_column("repeats")
    with op.batch_alter_table("webhook_subscription") as batch:
        batch.drop_column("authority")
