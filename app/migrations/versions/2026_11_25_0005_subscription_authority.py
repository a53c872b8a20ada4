"""Subscriptions carry their creator's authority (what it may read), checked at delivery.

Subscriptions made before have none: they are delivered as references only (no resources).

Revision ID: 20261125_0005
Revises: 20261125_0003
Create Date: 2026-11-25
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "20261125_0005"
down_revision = "20261125_0003"
branch_labels = None
depends_on = None

Json = sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("webhook_subscription") as batch:
        batch.add_column(sa.Column("authority", Json, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("webhook_subscription") as batch:
        batch.drop_column("authority")
