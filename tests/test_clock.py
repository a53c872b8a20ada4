import re
from datetime import UTC, datetime, timedelta, timezone
from email.utils import format_datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.kit.clock import http_date, instant, now

# FHIR R4 instant (http://hl7.org/fhir/R4/datatypes.html#instant), as the service writes it:
# UTC, milliseconds, "Z".
WRITTEN = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")


def test_an_instant_is_utc_to_the_millisecond_with_z():
    assert instant(datetime(2026, 11, 25, 15, 52, 37, 123456, tzinfo=UTC)) == "2026-11-25T15:52:37.123Z"
    assert instant(datetime(2026, 11, 25, 15, 52, 37, tzinfo=UTC)) == "2026-11-25T15:52:37.000Z"


def test_another_time_zone_is_written_as_the_same_moment_in_utc():
    paris = timezone(timedelta(hours=1))
    assert instant(datetime(2026, 11, 25, 16, 52, 37, 123000, tzinfo=paris)) == "2026-11-25T15:52:37.123Z"


def test_a_naive_datetime_is_refused():
    with pytest.raises(ValueError, match="time zone"):
        instant(datetime(2026, 11, 25, 15, 52, 37))


def test_now_is_aware_utc_and_the_default_moment():
    assert now().tzinfo is UTC
    before = now().replace(microsecond=0) - timedelta(seconds=1)
    written = instant()
    assert WRITTEN.match(written)
    assert before <= datetime.fromisoformat(written) <= now()


@given(
    st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.just(UTC))
    | st.datetimes(
        min_value=datetime(1, 1, 2),
        max_value=datetime(9999, 12, 30),
        timezones=st.builds(timezone, st.timedeltas(min_value=timedelta(hours=-14), max_value=timedelta(hours=14))),
    )
)
def test_an_http_date_is_what_the_standard_library_writes(moment):
    """Last-Modified, written as RFC 9110's IMF-fixdate: the standard library's own answer."""
    assert http_date(moment) == format_datetime(moment.astimezone(UTC), usegmt=True)


def test_an_http_date_is_english_whatever_the_locale():
    """strftime's %a and %b follow LC_TIME; an HTTP date must not. Checked under each of these
    locales the machine has (often none but C: then C only)."""
    import locale

    before = locale.setlocale(locale.LC_TIME)
    tried = []
    try:
        for name in ("C", "de_DE.UTF-8", "fr_FR.UTF-8", "ja_JP.UTF-8"):
            try:
                locale.setlocale(locale.LC_TIME, name)
            except locale.Error:
                continue
            tried.append(name)
            assert http_date(datetime(2026, 11, 25, 15, 52, 37, tzinfo=UTC)) == "Wed, 25 Nov 2026 15:52:37 GMT"
    finally:
        locale.setlocale(locale.LC_TIME, before)
    assert "C" in tried


def test_an_http_date_of_a_naive_datetime_is_refused():
    with pytest.raises(ValueError):
        http_date(datetime(2026, 11, 25, 15, 52, 37))
