"""Which triage each subscription hears about: topics, filters and the end date (pure)."""

from datetime import UTC, datetime, timedelta

import pytest

from app.subscriptions.topics import RED_FLAG_DETECTED, TRIAGE_COMPLETED, Criteria, FilterError, parse_filters

NOW = datetime(2026, 11, 25, 12, tzinfo=UTC)


@pytest.mark.parametrize(
    "topic, filters, patient, disposition, heard",
    [
        (TRIAGE_COMPLETED, (), "p1", "self-care", True),
        (RED_FLAG_DETECTED, (), "p1", "self-care", False),
        (RED_FLAG_DETECTED, (), "p1", "urgent", True),
        (RED_FLAG_DETECTED, (), "p1", "emergency", True),
        (TRIAGE_COMPLETED, ("CarePlan?patient=Patient/p2",), "p1", "urgent", False),
        (TRIAGE_COMPLETED, ("patient=p2",), "p2", "urgent", True),
        (TRIAGE_COMPLETED, ("Encounter?disposition=doctor,self-care",), "p1", "doctor", True),
        (TRIAGE_COMPLETED, ("disposition=doctor,self-care",), "p1", "urgent", False),
        (TRIAGE_COMPLETED, ("disposition=doctor,urgent", "disposition=urgent"), "p1", "doctor", False),  # AND
        (RED_FLAG_DETECTED, ("CarePlan?patient=Patient/p1&disposition=emergency",), "p1", "emergency", True),
        (RED_FLAG_DETECTED, ("CarePlan?patient=Patient/p1&disposition=emergency",), "p1", "urgent", False),
        (TRIAGE_COMPLETED, ("disposition=http://x|urgent",), "p1", "urgent", True),  # system|code
    ],
)
def test_criteria_match(topic, filters, patient, disposition, heard):
    assert parse_filters(topic, filters).matches(patient, disposition, NOW) is heard


@pytest.mark.parametrize(
    "filters",
    [
        ("Patient?patient=p1",),
        ("category=urgent",),
        ("patient=Patient/a b",),
        ("disposition=soon",),
        ("patient=p1", "patient=p2"),
        ("",),
    ],
)
def test_filters_that_cannot_be_applied_are_refused(filters):
    with pytest.raises(FilterError):
        parse_filters(TRIAGE_COMPLETED, filters)


def test_nothing_is_heard_after_the_end():
    criteria = Criteria(TRIAGE_COMPLETED, end=NOW)
    assert criteria.matches("p1", "urgent", NOW - timedelta(seconds=1))
    assert not criteria.matches("p1", "urgent", NOW)
