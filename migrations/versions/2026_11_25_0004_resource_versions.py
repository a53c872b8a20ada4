"""Resource versions: what an amended response's re-triage superseded (earlier versions of the
QuestionnaireResponse and Encounter, and every version of the replaced CarePlan), for reads of
a revoked CarePlan and for `_history`.

Revision ID: 20261125_0004
Revises: 20261125_0003
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "20261125_0004"
down_revision = "20261125_0003"
branch_labels = None
depends_on = None

Json = sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "resource_version",
        sa.Column("resource_type", sa.String(32), primary_key=True),
        sa.Column("resource_id", sa.String(64), primary_key=True),
        sa.Column("version_id", sa.Integer, primary_key=True),
        sa.Column("encounter_id", sa.String(64), nullable=False),
        sa.Column("patient", sa.String(64), nullable=True),
        sa.Column("resource", Json, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("resource_version")
