"""The service's one timestamp format.

Every time the service writes into a resource (meta.lastUpdated, CarePlan.created,
AuditEvent.recorded, a notification's timestamp, a delivery's times) is a FHIR `instant`:
UTC to the millisecond, written with "Z", e.g. 2026-11-25T15:52:37.123Z. Stored resources
hold that form, so it must not change.
"""

from __future__ import annotations

from datetime import UTC, datetime


def now() -> datetime:
    """The current time, aware, in UTC."""
    return datetime.now(UTC)


def instant(moment: datetime | None = None) -> str:
    """`moment` (default: now) as a FHIR instant. A naive datetime is refused: an instant
    needs its time zone, and guessing one would shift it."""
    if moment is None:
        moment = now()
    elif moment.tzinfo is None:
        raise ValueError("a FHIR instant needs a time zone; got a naive datetime")
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
