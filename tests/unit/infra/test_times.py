"""infra.times: every form an instant takes, exact to the millisecond."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from infra.times import from_ms, iso, parse_iso, parse_local, parse_ms, to_ms

# 0001-01-01 to 9999-12-31, in epoch milliseconds.
INSTANTS = st.integers(min_value=-62_135_596_800_000, max_value=253_402_300_799_999)


@given(INSTANTS)
def test_every_millisecond_survives_each_form(ms: int) -> None:
    assert parse_ms(iso(ms)) == ms
    assert to_ms(from_ms(ms)) == ms
    assert from_ms(ms).tzinfo is None  # SQL timestamps are naive UTC


def test_iso_is_utc_with_a_z_and_exact_milliseconds() -> None:
    assert iso(1_700_000_000_123) == "2023-11-14T22:13:20.123Z"
    assert iso(1_700_000_000_123, "seconds") == "2023-11-14T22:13:20Z"
    # A float of seconds would land 1 µs short here and print .122.
    assert iso(1_369_082_972_001) == "2013-05-20T20:49:32.001Z"


@pytest.mark.parametrize("text", [
    "2013-05-20T20:49:32.000Z", "2013-05-20T20:49:32.000+0000", "2013-05-20T20:49:32+00:00",
    "2013-05-20T22:49:32+02:00", "2013-05-20T20:49:32", " 1369082972000 ",
])
def test_providers_forms_parse_alike(text: str) -> None:
    assert parse_ms(text) == 1_369_082_972_000


def test_a_naive_datetime_is_utc_and_an_aware_one_keeps_its_zone() -> None:
    naive = datetime(2026, 1, 1)
    assert to_ms(naive) == to_ms(naive.replace(tzinfo=UTC))
    plus_two = datetime(2026, 1, 1, 2, tzinfo=timezone(timedelta(hours=2)))
    assert to_ms(plus_two) == to_ms(naive)
    assert parse_iso("2026-01-01T00:00:00").tzinfo is UTC


def test_local_text_is_in_its_zone_unless_it_says_otherwise() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    assert parse_local("2026-07-01T12:00:00", zone=berlin) == datetime(2026, 7, 1, 10)
    assert parse_local("2026-07-01T12:00:00Z", zone=berlin) == datetime(2026, 7, 1, 12)
    assert parse_local("01/07/2026 12:00", "%d/%m/%Y %H:%M", berlin) == datetime(2026, 7, 1, 10)


@pytest.mark.parametrize("text", ["", "yesterday", "2026-13-01"])
def test_anything_else_is_a_value_error(text: str) -> None:
    with pytest.raises(ValueError):
        parse_ms(text)
