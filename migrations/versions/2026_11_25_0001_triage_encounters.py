"""Triage encounters: the QuestionnaireResponse, Encounter and CarePlan of each triage.

Revision ID: 20261125_0001
Revises:
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "20261125_0001"
down_revision = None
branch_labels = None
depends_on = None

Json = sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "triage_encounter",
        sa.Column("encounter_id", sa.String(64), primary_key=True),
        sa.Column("careplan_id", sa.String(64), nullable=False, unique=True),
        sa.Column("response_id", sa.String(64), nullable=False, unique=True),
        sa.Column("patient", sa.String(64), nullable=True),
        sa.Column("disposition", sa.String(16), nullable=False),
        sa.Column("preference", sa.String(32), nullable=False),
        sa.Column("findings", Json, nullable=False),
        sa.Column("rules_version", sa.String(16), nullable=False),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("authored", sa.DateTime(timezone=True), nullable=True),
        sa.Column("identifier_system", sa.String(1024), nullable=True),
        sa.Column("identifier_value", sa.String(1024), nullable=True),
        sa.Column("version_id", sa.Integer, nullable=False),
        sa.Column("questionnaire_response", Json, nullable=False),
        sa.Column("encounter", Json, nullable=False),
        sa.Column("careplan", Json, nullable=False),
        sa.UniqueConstraint("identifier_system", "identifier_value", name="uq_triage_response_identifier"),
    )
    op.create_index("ix_triage_patient_created", "triage_encounter", ["patient", "created", "encounter_id"])
    op.create_index("ix_triage_disposition_created", "triage_encounter", ["disposition", "created", "encounter_id"])
    op.create_index("ix_triage_created", "triage_encounter", ["created", "encounter_id"])
    op.create_index("ix_triage_patient_authored", "triage_encounter", ["patient", "authored", "encounter_id"])


def downgrade() -> None:
    op.drop_table("triage_encounter")
