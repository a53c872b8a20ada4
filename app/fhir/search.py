"""FHIR search: which parameters each searchable type takes, and how a query string is read.

One table, SEARCH_PARAMETERS, drives the search code, the CapabilityStatement and the OpenAPI
parameters, so what is declared is what is applied.

Searches never widen silently: a parameter this server does not support (an unknown name, any
modifier such as `subject:Patient`, any chain such as `subject.name`, `_include`, `_sort`…) is a
400 OperationOutcome, unless the client sends `Prefer: handling=lenient`; then it is ignored and
left out of the Bundle's self link, which shows what was applied (FHIR R4 search, 3.1.1.5).
A parameter given twice means AND (both must hold); comma-separated values mean OR. The result
parameters (_count, _cursor, _format, _total) may each be given once.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from app.fhir.bundle import searchset
from app.fhir.canonical import CODESYSTEM_URL
from app.fhir.http import prefer
from app.fhir.outcome import HttpProblem
from app.rules import Disposition


@dataclass(frozen=True, slots=True)
class SearchParameter:
    type: str  # the FHIR search parameter type: token, reference, date, uri
    documentation: str


_ID_PARAM = SearchParameter("token", "The logical id; several, comma-separated: any of them")
_PATIENT_REF = SearchParameter("reference", "The patient: Patient/{id} (or the bare id)")
_URL = SearchParameter("uri", "The canonical URL, optionally |version; several, comma-separated: any of them")

SEARCH_PARAMETERS: dict[str, dict[str, SearchParameter]] = {
    "CarePlan": {
        "_id": _ID_PARAM,
        "subject": _PATIENT_REF,
        "patient": _PATIENT_REF,
        "date": SearchParameter(
            "date", "When the triage happened, with a prefix: eq, ge, gt, le, lt (e.g. ge2026-01-01); repeatable"
        ),
        "category": SearchParameter(
            "token",
            "The disposition: emergency, urgent, doctor-soon, doctor or self-care "
            "(system|code accepted; several, comma-separated: any of them)",
        ),
    },
    "Encounter": {
        "_id": _ID_PARAM,
        "subject": _PATIENT_REF,
        "patient": _PATIENT_REF,
        "date": SearchParameter("date", "When the triage happened, with a prefix as for CarePlan; repeatable"),
    },
    "QuestionnaireResponse": {
        "_id": _ID_PARAM,
        "subject": _PATIENT_REF,
        "patient": _PATIENT_REF,
        "authored": SearchParameter(
            "date", "When the response was authored, with a prefix: eq, ge, gt, le, lt; repeatable"
        ),
    },
    "AuditEvent": {
        "_id": _ID_PARAM,
        "patient": SearchParameter("reference", "Records about this patient: Patient/{id}"),
        "date": SearchParameter("date", "When recorded, with a prefix (ge2026-01-01); repeatable"),
    },
    "Subscription": {
        "_id": _ID_PARAM,
        "status": SearchParameter("token", "requested, active, error or off (several, comma-separated: any of them)"),
    },
    "Questionnaire": {
        "_id": _ID_PARAM,
        "url": _URL,
        "version": SearchParameter("token", "The business version: 1.0.0 or 2.0.0"),
    },
    "CodeSystem": {"_id": _ID_PARAM, "url": _URL},
    "OperationDefinition": {"_id": _ID_PARAM, "url": _URL},
    # the rules as knowledge artifacts, one per rules version (app.conformance.knowledge)
    **{
        kind: {
            "_id": _ID_PARAM,
            "url": _URL,
            "version": SearchParameter("token", "The business version (the rules version): 1.0.0 or 2.0.0"),
        }
        for kind in ("PlanDefinition", "ActivityDefinition", "Library")
    },
    "ValueSet": {"_id": _ID_PARAM, "url": _URL},
}
# Types stored in the database, searched newest first with a keyset cursor; the others are few,
# held in memory, and paged by position. Every search takes _count and the _cursor of next links.
KEYSET_PAGED = frozenset({"CarePlan", "Encounter", "QuestionnaireResponse", "AuditEvent"})
COUNT_DOCUMENTATION = "Results per page; follow the Bundle's next link for more"
# _total: the total is always counted exactly, which satisfies none, estimate and accurate.
# _totalMethod=count is fhirpy's way of asking the same.
_TOTAL_VALUES = {"_total": ("none", "estimate", "accurate"), "_totalMethod": ("count",)}


@dataclass(slots=True)
class Search:
    """A query string read against the table: the criteria to apply, in order, and the result
    parameters. `applied` is what the self and next links carry."""

    criteria: list[tuple[str, str]] = field(default_factory=list)
    applied: list[tuple[str, str]] = field(default_factory=list)
    count: int | None = None
    after: tuple[datetime, str] | None = None  # keyset position (stored types)
    offset: int = 0  # position in the list (types held in memory)
    cursor: str | None = None


def read_search(
    resource_type: str, params: Iterable[tuple[str, str]], *, lenient: bool, max_count: int | None = None
) -> Search:
    """Check every parameter against the table: 400 for one not supported (ignored if lenient)."""
    supported = SEARCH_PARAMETERS[resource_type]
    search = Search()
    seen: set[str] = set()
    for name, value in params:
        result_parameter = name in ("_format", "_count", "_cursor", *_TOTAL_VALUES)
        if result_parameter:
            if name in seen:
                raise _bad(f"The parameter {name} may be given only once.")
            seen.add(name)
            if name == "_count":
                if not value.isdigit():
                    raise _bad("_count must be a whole number.")
                search.count = min(int(value), max_count) if max_count is not None else int(value)
                search.applied.append((name, str(search.count)))
            elif name == "_cursor":
                search.cursor = value
                if resource_type in KEYSET_PAGED:
                    search.after = decode_cursor(value)
                else:
                    search.offset = decode_offset(value)
            elif name in _TOTAL_VALUES and value not in _TOTAL_VALUES[name]:
                raise _bad(f"{name} takes {', '.join(_TOTAL_VALUES[name])}.")
            continue
        if name in supported:  # a bare name: modifiers and chains are never in the table
            search.criteria.append((name, value))
            search.applied.append((name, value))
        elif not lenient:
            raise HttpProblem(
                400,
                "not-supported",
                f"The search parameter '{name[:60]}' is not supported for {resource_type} (no modifiers or "
                f"chains). Supported: {', '.join(supported)}"
                + ", _count. Send 'Prefer: handling=lenient' to have unsupported "
                "parameters ignored instead.",
            )
    return search


def check_operation_parameters(operation: str, params: Iterable[tuple[str, str]], repeatable: dict[str, bool]) -> None:
    """An operation's query parameters, by name → may it repeat: anything else, or a single one
    given twice, is a 400 (an operation never ignores what it was asked)."""
    seen: set[str] = set()
    for name, _ in params:
        if name not in repeatable and name != "_format":
            raise HttpProblem(
                400,
                "not-supported",
                f"${operation} takes no parameter '{name[:60]}'; it takes " + (", ".join(repeatable) or "none") + ".",
            )
        if name in seen and not repeatable.get(name, False):
            raise _bad(f"The parameter {name} of ${operation} may be given only once.")
        seen.add(name)


def is_lenient(request: Any) -> bool:
    """FHIR leaves the default to the server: here it is strict, so no search widens silently."""
    return prefer(request, "handling", "strict") == "lenient"


def id_values(value: str) -> set[str]:
    """The ids of one _id parameter (comma = OR); values no id can have match nothing."""
    return {v for v in value.split(",") if _ID_PATTERN.match(v)}


def filter_resources(resources: list[dict[str, Any]], criteria: list[tuple[str, str]]) -> list[dict[str, Any]]:
    """Criteria over resources held in memory (conformance resources, subscriptions): _id, url and
    status, each comma-separated value an alternative, each repeated parameter one more condition."""

    def matches(resource: dict[str, Any], name: str, value: str) -> bool:
        if name == "_id":
            return resource.get("id") in id_values(value)
        if name == "url":
            return any(
                resource.get("url") == canonical and (not version or resource.get("version") == version)
                for canonical, _, version in (v.partition("|") for v in value.split(","))
            )
        return resource.get(name) in value.split(",")

    return [r for r in resources if all(matches(r, name, value) for name, value in criteria)]


_DATE = re.compile(
    r"^(eq|ne|gt|lt|ge|le|sa|eb|ap)?(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(\.\d+)?)?"
    r"(Z|[+-]\d{2}:\d{2})?)?)?)?$"
)
_ID_PATTERN = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")
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
            tz = UTC if zone in (None, "Z") else datetime.strptime(zone, "%z").tzinfo
            start = datetime(
                int(year), int(month), int(day), int(hour), int(minute), int(second or 0), tzinfo=tz
            ).astimezone(UTC)
            end = start + (timedelta(minutes=1) if second is None else timedelta(seconds=1))
            if fraction:
                start = start.replace(microsecond=int(float(fraction) * 1_000_000))
                end = start + timedelta(microseconds=1)
        elif day is not None:
            start_d = date(int(year), int(month), int(day))
            start = datetime(start_d.year, start_d.month, start_d.day, tzinfo=UTC)
            end = start + timedelta(days=1)
        elif month is not None:
            start = datetime(int(year), int(month), 1, tzinfo=UTC)
            end = datetime(int(year) + (int(month) == 12), int(month) % 12 + 1, 1, tzinfo=UTC)
        else:
            start = datetime(int(year), 1, 1, tzinfo=UTC)
            end = datetime(int(year) + 1, 1, 1, tzinfo=UTC)
    except (ValueError, OverflowError):
        raise _bad("The date parameter is not a real date.") from None
    return prefix, start, end


def narrow_range(bounds: list[datetime | None], prefix: str, start: datetime, end: datetime) -> None:
    """Intersect [bounds[0], bounds[1]) with what the prefix admits."""
    low, high = {
        "eq": (start, end),
        "ge": (start, None),
        "gt": (end, None),
        "lt": (None, start),
        "le": (None, end),
    }[prefix]
    if low is not None and (bounds[0] is None or low > bounds[0]):
        bounds[0] = low
    if high is not None and (bounds[1] is None or high < bounds[1]):
        bounds[1] = high


def encode_cursor(key: tuple[datetime, str]) -> str:
    raw = f"{key[0].isoformat()}|{key[1]}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def encode_offset(offset: int) -> str:
    return base64.urlsafe_b64encode(f"@{offset}".encode()).decode().rstrip("=")


def decode_offset(token: str) -> int:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        if not raw.startswith("@") or not raw[1:].isdigit():
            raise ValueError
        return int(raw[1:])
    except (ValueError, UnicodeDecodeError):
        raise _bad("The _cursor is not one this server issued.") from None


def page_of(found: list[dict[str, Any]], search: Search) -> tuple[list[dict[str, Any]], str | None]:
    """One page of resources searched in memory, and the cursor of the next page if any."""
    if search.count is None:
        return found[search.offset :], None
    end = search.offset + search.count
    return found[search.offset : end], (encode_offset(end) if end < len(found) and search.count else None)


def decode_cursor(token: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        created, encounter_id = raw.split("|", 1)
        moment = datetime.fromisoformat(created)
        if moment.tzinfo is None or not _ID_PATTERN.match(encounter_id):
            raise ValueError
        return moment, encounter_id
    except (ValueError, UnicodeDecodeError):
        raise _bad("The _cursor is not one this server issued.") from None


def patient_reference(name: str, value: str) -> str:
    """The patient id of a reference parameter: Patient/{id}, a URL ending so, or the bare id."""
    match = _PATIENT.match(value)
    if not match or ("/" in value and "Patient/" not in value):
        raise _bad(f"The {name} parameter must be Patient/{{id}}.")
    return match.group(1)


@dataclass(slots=True)
class Criteria:
    """The criteria of a search over stored resources, AND-ed together."""

    ids: set[str] | None = None
    patient: str | None = None
    dispositions: set[str] | None = None
    bounds: list[datetime | None] = field(default_factory=lambda: [None, None])
    date_parameter: str | None = None
    impossible: bool = False  # criteria no stored resource can meet (e.g. two different patients)


def read_criteria(resource_type: str, criteria: list[tuple[str, str]]) -> Criteria:
    found = Criteria()
    kinds = SEARCH_PARAMETERS[resource_type]
    for name, value in criteria:
        kind = kinds[name].type
        if name == "_id":
            ids = id_values(value)
            found.ids = ids if found.ids is None else found.ids & ids
            found.impossible |= not found.ids
        elif kind == "reference":
            patient = patient_reference(name, value)
            found.impossible |= found.patient is not None and found.patient != patient
            found.patient = patient
        elif kind == "date":
            narrow_range(found.bounds, *date_range(value))
            found.date_parameter = name
        elif name == "category":
            codes = set()
            for alternative in value.split(","):
                system, _, code = alternative.rpartition("|") if "|" in alternative else (None, "", alternative)
                # a category this server never assigns matches nothing
                if system in (None, CODESYSTEM_URL) and code in {d.code for d in Disposition}:
                    codes.add(code)
            found.dispositions = codes if found.dispositions is None else found.dispositions & codes
            found.impossible |= not found.dispositions
        else:  # a parameter in the table with no code to apply it must never be ignored
            raise AssertionError(f"{resource_type}?{name} is declared but not applied")
    return found


@dataclass(frozen=True, slots=True)
class SearchQuery:
    resource_type: str
    ids: frozenset[str] | None = None  # any of these logical ids of the searched type
    patient: str | None = None
    dispositions: frozenset[str] | None = None  # any of these
    # half-open ranges [start, end) on the date the search parameter names
    created_from: datetime | None = None
    created_before: datetime | None = None
    authored_from: datetime | None = None
    authored_before: datetime | None = None
    count: int = 20
    after: tuple[datetime, str] | None = None  # keyset cursor: (created, encounter_id) of the last row seen
    matches_nothing: bool = False  # contradictory or impossible criteria


def parse_search(
    resource_type: str, params: list[tuple[str, str]], *, default_count: int, max_count: int, lenient: bool
) -> tuple[SearchQuery, Search]:
    """The repository query, and the search as read (its `applied` for the self and next links)."""
    search = read_search(resource_type, params, lenient=lenient, max_count=max_count)
    found = read_criteria(resource_type, search.criteria)
    dates = (
        {"authored_from": found.bounds[0], "authored_before": found.bounds[1]}
        if found.date_parameter == "authored"
        else {"created_from": found.bounds[0], "created_before": found.bounds[1]}
    )
    query = SearchQuery(
        resource_type=resource_type,
        ids=frozenset(found.ids) if found.ids is not None else None,
        patient=found.patient,
        dispositions=frozenset(found.dispositions) if found.dispositions is not None else None,
        count=search.count if search.count is not None else default_count,
        after=search.after,
        matches_nothing=found.impossible,
        **dates,
    )
    return query, search


def search_url(base: str, resource_type: str, applied: list[tuple[str, str]], cursor: str | None = None) -> str:
    params: list[tuple[str, Any]] = list(applied)
    if cursor:
        params.append(("_cursor", cursor))
    query = urlencode(params)
    return f"{base}/{resource_type}" + (f"?{query}" if query else "")


def searchset_in_memory(
    search: Search, resource_type: str, resources: list[dict[str, Any]], base: str
) -> dict[str, Any]:
    """The searchset Bundle of resources held in memory (published resources, subscriptions):
    filtered by the search's criteria, one page of it, with its self and next links."""
    found = filter_resources(resources, search.criteria)
    page, following = page_of(found, search)
    next_url = search_url(base, resource_type, search.applied, following) if following else None
    return searchset(page, len(found), base, search_url(base, resource_type, search.applied, search.cursor), next_url)
