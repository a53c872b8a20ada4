"""Audit trail: one row per access to patient data or subscriptions (served as AuditEvent).

Revision ID: 20261125_0003
Revises: 20261125_0002
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

revision = "20261125_0003"
down_revision = "20261125_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audit_event",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("recorded", sa.DateTime(timezone=True), nullable=False),
        sa.Column("action", sa.String(1), nullable=False),
        sa.Column("interaction", sa.String(16), nullable=False),
        sa.Column("resource_type", sa.String(64), nullable=True),
        sa.Column("resource_id", sa.String(64), nullable=True),
        sa.Column("patient", sa.String(64), nullable=True),
        sa.Column("agent", sa.String(256), nullable=False),
        sa.Column("client_address", sa.String(64), nullable=True),
        sa.Column("status", sa.Integer, nullable=False),
        sa.Column("outcome", sa.String(2), nullable=False),
    )
    op.create_index("ix_audit_recorded", "audit_event", ["recorded", "id"])
    op.create_index("ix_audit_patient_recorded", "audit_event", ["patient", "recorded", "id"])


def downgrade() -> None:
    op.drop_table("audit_event")
