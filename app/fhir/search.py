"""FHIR search parameters for the stored resources → a repository SearchQuery.

Supported (and listed in the CapabilityStatement):
- CarePlan: subject, patient, date (the triage time), category (the disposition)
- Encounter: subject, patient, date
- QuestionnaireResponse: subject, patient, authored
- all: _count, and the opaque _cursor of next-page links.
Unknown parameters are ignored (FHIR's lenient default) and left out of the self link;
with `Prefer: handling=strict` they are a 400.
"""

from __future__ import annotations

import base64
import re
from datetime import date, datetime, timedelta, timezone
from typing import Any
from urllib.parse import urlencode

from app.fhir.canonical import CODESYSTEM_URL
from app.kit.fhir_http import HttpProblem
from app.store.repository import SearchQuery
from app.triage import Disposition

SEARCH_PARAMETERS: dict[str, dict[str, str]] = {
    "CarePlan": {
        "subject": "reference", "patient": "reference", "date": "date", "category": "token",
    },
    "Encounter": {"subject": "reference", "patient": "reference", "date": "date"},
    "QuestionnaireResponse": {"subject": "reference", "patient": "reference", "authored": "date"},
}
PARAMETER_DOCS = {
    "subject": "The patient: Patient/{id} (or the bare id)",
    "patient": "The patient: Patient/{id} (or the bare id)",
    "date": "When the triage happened, with a prefix: eq, ge, gt, le, lt (e.g. ge2026-01-01); repeatable",
    "category": "The disposition: emergency, urgent, doctor-soon, doctor or self-care (system|code accepted)",
    "authored": "When the response was authored, with a prefix as for date; repeatable",
}
CONTROL = ("_count", "_cursor", "_format")

_DATE = re.compile(r"^(eq|ne|gt|lt|ge|le|sa|eb|ap)?(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(\.\d+)?)?"
                   r"(Z|[+-]\d{2}:\d{2})?)?)?)?$")
_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")
_PATIENT = re.compile(r"^(?:.*/)?(?:Patient/)?([A-Za-z0-9\-.]{1,64})$")


def _bad(text: str) -> HttpProblem:
    return HttpProblem(400, "invalid", text)


def date_range(value: str) -> tuple[str, datetime, datetime]:
    """The prefix and the [start, end) range a FHIR date search value covers at its precision."""
    match = _DATE.match(value)
    if not match:
        raise _bad("A date parameter must look like ge2026-01-01 or 2026-01-01T10:00:00Z.")
    prefix, year, month, day, hour, minute, second, fraction, zone = match.groups()
    prefix = prefix or "eq"
    if prefix not in ("eq", "gt", "lt", "ge", "le"):
        raise _bad(f"The date prefix '{prefix}' is not supported; use eq, ge, gt, le or lt.")
    try:
        if hour is not None:
            tz = timezone.utc if zone in (None, "Z") else datetime.strptime(zone, "%z").tzinfo
            start = datetime(int(year), int(month), int(day), int(hour), int(minute), int(second or 0),
                             tzinfo=tz).astimezone(timezone.utc)
            end = start + (timedelta(minutes=1) if second is None else timedelta(seconds=1))
            if fraction:
                start = start.replace(microsecond=int(float(fraction) * 1_000_000))
                end = start + timedelta(microseconds=1)
        elif day is not None:
            start_d = date(int(year), int(month), int(day))
            start = datetime(start_d.year, start_d.month, start_d.day, tzinfo=timezone.utc)
            end = start + timedelta(days=1)
        elif month is not None:
            start = datetime(int(year), int(month), 1, tzinfo=timezone.utc)
            end = datetime(int(year) + (int(month) == 12), int(month) % 12 + 1, 1, tzinfo=timezone.utc)
        else:
            start = datetime(int(year), 1, 1, tzinfo=timezone.utc)
            end = datetime(int(year) + 1, 1, 1, tzinfo=timezone.utc)
    except (ValueError, OverflowError):
        raise _bad("The date parameter is not a real date.") from None
    return prefix, start, end


def narrow_range(bounds: list[datetime | None], prefix: str, start: datetime, end: datetime) -> None:
    """Intersect [bounds[0], bounds[1]) with what the prefix admits."""
    low, high = {
        "eq": (start, end), "ge": (start, None), "gt": (end, None), "lt": (None, start), "le": (None, end),
    }[prefix]
    if low is not None and (bounds[0] is None or low > bounds[0]):
        bounds[0] = low
    if high is not None and (bounds[1] is None or high < bounds[1]):
        bounds[1] = high


def encode_cursor(key: tuple[datetime, str]) -> str:
    raw = f"{key[0].isoformat()}|{key[1]}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(token: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        created, encounter_id = raw.split("|", 1)
        moment = datetime.fromisoformat(created)
        if moment.tzinfo is None or not _ID.match(encounter_id):
            raise ValueError
        return moment, encounter_id
    except (ValueError, UnicodeDecodeError):
        raise _bad("The _cursor is not one this server issued.") from None


def parse_search(resource_type: str, params: list[tuple[str, str]], *, default_count: int, max_count: int,
                 strict: bool) -> tuple[SearchQuery, list[tuple[str, str]]]:
    """The repository query, and the parameters applied (for the self and next links)."""
    supported = SEARCH_PARAMETERS[resource_type]
    applied: list[tuple[str, str]] = []
    patient: str | None = None
    disposition: str | None = None
    bounds: list[datetime | None] = [None, None]
    count = default_count
    after = None
    date_column = None
    impossible = False  # criteria no stored resource can meet (e.g. two different patients)
    for name, value in params:
        base_name = name.split(":", 1)[0]
        if name in ("_format",):
            continue
        if name == "_count":
            if not value.isdigit():
                raise _bad("_count must be a whole number.")
            count = min(int(value), max_count)
            applied.append((name, str(count)))
            continue
        if name == "_cursor":
            after = decode_cursor(value)
            continue
        if base_name not in supported or name != base_name:
            if strict:
                raise _bad(f"The search parameter '{name[:40]}' is not supported for {resource_type}.")
            continue
        kind = supported[name]
        if kind == "reference":
            match = _PATIENT.match(value)
            if not match or ("/" in value and "Patient/" not in value):
                raise _bad(f"The {name} parameter must be Patient/{{id}}.")
            impossible |= patient is not None and patient != match.group(1)
            patient = match.group(1)
        elif kind == "date":
            narrow_range(bounds, *date_range(value))
            date_column = name
        elif kind == "token":
            code = value.split("|", 1)[1] if "|" in value else value
            system = value.split("|", 1)[0] if "|" in value else None
            # a category this server never assigns matches nothing
            impossible |= system not in (None, CODESYSTEM_URL) or code not in {d.code for d in Disposition}
            impossible |= disposition is not None and disposition != code
            disposition = code
        applied.append((name, value))
    query = SearchQuery(
        resource_type=resource_type,
        patient=patient,
        disposition=disposition,
        count=count,
        after=after,
        matches_nothing=impossible,
        **({"authored_from": bounds[0], "authored_before": bounds[1]} if date_column == "authored"
           else {"created_from": bounds[0], "created_before": bounds[1]}),
    )
    return query, applied


def search_url(base: str, resource_type: str, applied: list[tuple[str, str]],
               cursor: str | None = None) -> str:
    params: list[tuple[str, Any]] = list(applied)
    if cursor:
        params.append(("_cursor", cursor))
    query = urlencode(params)
    return f"{base}/{resource_type}" + (f"?{query}" if query else "")
