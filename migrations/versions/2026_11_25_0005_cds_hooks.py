"""CDS Hooks: card feedback, and the JWT ids EHRs have used (replay protection).

Revision ID: 20261125_0005
Revises: 20261125_0004
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "20261125_0005"
down_revision = "20261125_0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    json_type = sa.JSON().with_variant(JSONB(), "postgresql")
    op.create_table(
        "cds_feedback",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("service_id", sa.String(64), nullable=False),
        sa.Column("card", sa.String(64), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("accepted_suggestions", json_type, nullable=False),
        sa.Column("override_system", sa.String(255), nullable=True),
        sa.Column("override_code", sa.String(64), nullable=True),
        sa.Column("user_comment", sa.String(1024), nullable=True),
        sa.Column("outcome_timestamp", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received", sa.DateTime(timezone=True), nullable=False),
        sa.Column("client", sa.String(255), nullable=False),
    )
    op.create_index("ix_cds_feedback_service_received", "cds_feedback", ["service_id", "received"])
    op.create_table(
        "cds_token_use",
        sa.Column("issuer", sa.String(255), primary_key=True),
        sa.Column("jti", sa.String(255), primary_key=True),
        sa.Column("expires", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_cds_token_use_expires", "cds_token_use", ["expires"])


def downgrade() -> None:
    op.drop_table("cds_token_use")
    op.drop_table("cds_feedback")
