"""The tables. One row per triage encounter holds the three resources it produced (the
QuestionnaireResponse, the Encounter and the CarePlan) beside the columns searches use.

A triage is written with one INSERT in one transaction, so it is stored whole or not
at all; the resources never change afterwards (versionId 1).
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import JSON, DateTime, Index, Integer, String, TypeDecorator, UniqueConstraint
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

Json = JSON().with_variant(JSONB(), "postgresql")


class UtcDateTime(TypeDecorator):
    """Aware UTC datetimes in and out, on both engines (SQLite has no time zones: it
    stores naive UTC, which sorts and compares correctly as text)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


class Base(DeclarativeBase):
    pass


class TriageEncounter(Base):
    __tablename__ = "triage_encounter"

    encounter_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    careplan_id: Mapped[str] = mapped_column(String(64), unique=True)
    response_id: Mapped[str] = mapped_column(String(64), unique=True)
    patient: Mapped[str | None] = mapped_column(String(64))  # Patient id of the subject
    disposition: Mapped[str] = mapped_column(String(16))
    preference: Mapped[str] = mapped_column(String(32))
    findings: Mapped[list[str]] = mapped_column(Json)
    rules_version: Mapped[str] = mapped_column(String(16))
    created: Mapped[datetime] = mapped_column(UtcDateTime())
    authored: Mapped[datetime | None] = mapped_column(UtcDateTime())
    identifier_system: Mapped[str | None] = mapped_column(String(1024))
    identifier_value: Mapped[str | None] = mapped_column(String(1024))
    version_id: Mapped[int] = mapped_column(Integer, default=1)
    questionnaire_response: Mapped[dict[str, Any]] = mapped_column(Json)
    encounter: Mapped[dict[str, Any]] = mapped_column(Json)
    careplan: Mapped[dict[str, Any]] = mapped_column(Json)

    __table_args__ = (
        # Idempotent submission: one encounter per QuestionnaireResponse identifier.
        UniqueConstraint("identifier_system", "identifier_value", name="uq_triage_response_identifier"),
        # Searches are newest first, by patient, by disposition, or over all.
        Index("ix_triage_patient_created", "patient", "created", "encounter_id"),
        Index("ix_triage_disposition_created", "disposition", "created", "encounter_id"),
        Index("ix_triage_created", "created", "encounter_id"),
        Index("ix_triage_patient_authored", "patient", "authored", "encounter_id"),
    )
