"""The tables. One row per triage encounter holds the three resources it produced (the
QuestionnaireResponse, the Encounter and the CarePlan) beside the columns searches use.

A triage is written with one INSERT in one transaction, so it is stored whole or not
at all. The webhook outbox rows of that triage are written in the same transaction.

The row holds the current version of each resource. An amended response (same identifier,
`status: amended`, other answers) is triaged again in one transaction: the row takes the new
versions and the new CarePlan, and `resource_version` keeps what the row no longer holds
(earlier versions, and every version of a replaced CarePlan, the revoked one last).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import JSON, BigInteger, DateTime, Index, Integer, String, Table, Text, TypeDecorator, UniqueConstraint
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

Json = JSON().with_variant(JSONB(), "postgresql")
# A FHIR resource as stored and served whole: json, not jsonb, on PostgreSQL, which keeps the
# text as sent (jsonb reorders members) and costs the server far less to write (migration 0008).
Body = JSON()
# SQLite makes an INTEGER PRIMARY KEY its rowid (autoincrementing); PostgreSQL gets a bigint identity.
RowId = BigInteger().with_variant(Integer(), "sqlite")


class UtcDateTime(TypeDecorator):
    """Aware UTC datetimes in and out, on both engines (SQLite has no time zones: it
    stores naive UTC, which sorts and compares correctly as text)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    # Declared tables are Tables (SQLAlchemy types __table__ as any FromClause): insert(),
    # update() and delete() take them.
    __table__: ClassVar[Table]


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
    questionnaire_response: Mapped[dict[str, Any]] = mapped_column(Body)
    encounter: Mapped[dict[str, Any]] = mapped_column(Body)
    careplan: Mapped[dict[str, Any]] = mapped_column(Body)

    __table_args__ = (
        # Idempotent submission: one encounter per QuestionnaireResponse identifier.
        UniqueConstraint("identifier_system", "identifier_value", name="uq_triage_response_identifier"),
        # Searches are newest first, by patient, by disposition, or over all.
        Index("ix_triage_patient_created", "patient", "created", "encounter_id"),
        Index("ix_triage_disposition_created", "disposition", "created", "encounter_id"),
        Index("ix_triage_created", "created", "encounter_id"),
        Index("ix_triage_patient_authored", "patient", "authored", "encounter_id"),
    )


class ResourceVersion(Base):
    """A version of a resource that `triage_encounter` no longer holds: an earlier version of
    an amended response's QuestionnaireResponse or Encounter, or any version of a CarePlan that
    a re-triage replaced (its highest version, revoked, is its current one). Never updated."""

    __tablename__ = "resource_version"

    resource_type: Mapped[str] = mapped_column(String(32), primary_key=True)
    resource_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    version_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    encounter_id: Mapped[str] = mapped_column(String(64))  # the triage it belongs to
    patient: Mapped[str | None] = mapped_column(String(64))
    resource: Mapped[dict[str, Any]] = mapped_column(Body)


class WebhookSubscription(Base):
    """A FHIR Subscription (R4, backport profile) and its delivery state.

    The API writes the subscription; dispatchers write the delivery columns (status changes,
    event numbers, lease, next attempt). Triages never touch this row, so a busy subscription
    puts no lock between concurrent triages.
    """

    __tablename__ = "webhook_subscription"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    status: Mapped[str] = mapped_column(String(16))  # requested | active | error | off
    topic: Mapped[str] = mapped_column(String(255))
    patient: Mapped[str | None] = mapped_column(String(64))  # filter: Patient id
    dispositions: Mapped[list[str] | None] = mapped_column(Json)  # filter: any of these codes
    end: Mapped[datetime | None] = mapped_column(UtcDateTime())
    endpoint: Mapped[str] = mapped_column(String(2048))
    content: Mapped[str] = mapped_column(String(16))  # id-only | full-resource
    # Sealed at rest (app/subscriptions/sealing.py): the channel headers (a sealed JSON list, as a JSON
    # string) and the whsec_… secret, never rendered after creation.
    headers: Mapped[str] = mapped_column(Json)
    secret: Mapped[str] = mapped_column(Text)
    base_url: Mapped[str] = mapped_column(String(1024))  # the FHIR base the subscriber used
    resource: Mapped[dict[str, Any]] = mapped_column(Json)  # as submitted, without the secret or headers
    created: Mapped[datetime] = mapped_column(UtcDateTime())
    updated: Mapped[datetime] = mapped_column(UtcDateTime())
    version_id: Mapped[int] = mapped_column(Integer, default=1)
    error: Mapped[str | None] = mapped_column(String(255))  # why deliveries fail, when they do
    event_count: Mapped[int] = mapped_column(BigInteger, default=0)  # event numbers handed out
    next_attempt_at: Mapped[datetime | None] = mapped_column(UtcDateTime())  # head-of-line backoff
    lease_owner: Mapped[str | None] = mapped_column(String(128))  # the dispatcher delivering now
    lease_until: Mapped[datetime | None] = mapped_column(UtcDateTime())
    # What the creator could read (app/security/authority.py); delivery sends nothing outside it.
    authority: Mapped[dict[str, Any] | None] = mapped_column(Json)

    __table_args__ = (Index("ix_webhook_subscription_status", "status"),)


class WebhookOutbox(Base):
    """One notification to one subscription: written with the triage, kept as the delivery log.

    `message_id` is the Standard Webhooks `webhook-id`, the same on every attempt. There is no
    foreign key to the subscription on purpose: a triage racing a DELETE must still commit.
    """

    __tablename__ = "webhook_outbox"

    id: Mapped[int] = mapped_column(RowId, primary_key=True, autoincrement=True)
    message_id: Mapped[str] = mapped_column(String(64))
    subscription_id: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(24))  # event-notification | handshake
    event_number: Mapped[int | None] = mapped_column(BigInteger)  # given when first sent
    encounter_id: Mapped[str | None] = mapped_column(String(64))
    careplan_id: Mapped[str | None] = mapped_column(String(64))
    occurred: Mapped[datetime] = mapped_column(UtcDateTime())
    state: Mapped[str] = mapped_column(String(12))  # pending | delivered | dead
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_attempt_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    last_status: Mapped[int | None] = mapped_column(Integer)  # HTTP status of the last attempt
    last_error: Mapped[str | None] = mapped_column(String(255))
    delivered_at: Mapped[datetime | None] = mapped_column(UtcDateTime())

    __table_args__ = (
        # A subscription's queue, in order: numbered rows (sent before) first, then the rest by id.
        Index("ix_webhook_outbox_queue", "subscription_id", "state", "event_number", "id"),
    )


class AuditRecord(Base):
    """One access to patient data or to subscriptions: who, what, when, outcome, from where.
    Served as FHIR AuditEvent. Written in the same transaction as the change it records
    (a triage), or on its own for reads, searches and refused or failed requests."""

    __tablename__ = "audit_event"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    recorded: Mapped[datetime] = mapped_column(UtcDateTime())
    action: Mapped[str] = mapped_column(String(1))  # C R U D E
    interaction: Mapped[str] = mapped_column(String(16))  # create read search update delete
    resource_type: Mapped[str | None] = mapped_column(String(64))
    resource_id: Mapped[str | None] = mapped_column(String(64))
    patient: Mapped[str | None] = mapped_column(String(64))
    agent: Mapped[str] = mapped_column(String(256))
    client_address: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[int] = mapped_column(Integer)  # HTTP status answered
    outcome: Mapped[str] = mapped_column(String(2))  # FHIR audit outcome: 0 4 8 12
    # An aggregate of refusals: how many more like the previous record came in its window.
    repeats: Mapped[int | None] = mapped_column(Integer)

    __table_args__ = (
        Index("ix_audit_recorded", "recorded", "id"),
        Index("ix_audit_patient_recorded", "patient", "recorded", "id"),
    )


class CdsFeedback(Base):
    """What a clinician did with a CDS Hooks card (POST /cds-services/{id}/feedback)."""

    __tablename__ = "cds_feedback"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    service_id: Mapped[str] = mapped_column(String(64))
    card: Mapped[str] = mapped_column(String(64))  # the card's uuid
    outcome: Mapped[str] = mapped_column(String(16))  # accepted | overridden
    accepted_suggestions: Mapped[list[str]] = mapped_column(Json)
    override_system: Mapped[str | None] = mapped_column(String(255))
    override_code: Mapped[str | None] = mapped_column(String(64))
    user_comment: Mapped[str | None] = mapped_column(String(1024))
    outcome_timestamp: Mapped[datetime] = mapped_column(UtcDateTime())
    received: Mapped[datetime] = mapped_column(UtcDateTime())
    client: Mapped[str] = mapped_column(String(255))  # the EHR (JWT iss), or "local"

    __table_args__ = (Index("ix_cds_feedback_service_received", "service_id", "received"),)


class CdsTokenUse(Base):
    """JWT ids (`jti`) the EHRs have used on CDS Hooks calls: a replayed token is refused.
    Rows outlive their token's expiry by little; they are pruned as new ones arrive."""

    __tablename__ = "cds_token_use"

    issuer: Mapped[str] = mapped_column(String(255), primary_key=True)
    jti: Mapped[str] = mapped_column(String(255), primary_key=True)
    expires: Mapped[datetime] = mapped_column(UtcDateTime())

    __table_args__ = (Index("ix_cds_token_use_expires", "expires"),)
