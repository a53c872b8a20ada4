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


_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def http_date(moment: datetime) -> str:
    """`moment` as an HTTP date (RFC 9110's IMF-fixdate: "Wed, 25 Nov 2026 15:52:37 GMT"), as
    email.utils.format_datetime(moment, usegmt=True) writes it, at a fraction of its cost (it
    is on every $triage answer's Last-Modified), and in English whatever the locale."""
    if moment.tzinfo is None:
        raise ValueError("an HTTP date needs a time zone; got a naive datetime")
    utc = moment.astimezone(UTC)
    return (
        f"{_DAYS[utc.weekday()]}, {utc.day:02d} {_MONTHS[utc.month - 1]} {utc.year:04d} "
        f"{utc.hour:02d}:{utc.minute:02d}:{utc.second:02d} GMT"
    )


def instant(moment: datetime | None = None) -> str:
    """`moment` (default: now) as a FHIR instant. A naive datetime is refused: an instant
    needs its time zone, and guessing one would shift it."""
    if moment is None:
        moment = now()
    elif moment.tzinfo is None:
        raise ValueError("a FHIR instant needs a time zone; got a naive datetime")
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
