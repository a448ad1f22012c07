"""workflows.inputs: `every` bounds, backfill windows (ISO text only, ordered, not in the
future) and the argument count of the run method and the signals."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from infra import times
from workflows.inputs import (
    EVERY_MAX_S,
    EVERY_MIN_S,
    Backfill,
    every_seconds,
    every_seconds_or_none,
    no_input,
    one_input,
    parse_backfill,
    parse_input,
)

NOW = times.to_ms(datetime(2026, 6, 1, 12, 0, tzinfo=UTC))


@pytest.mark.parametrize(("text", "seconds"), [
    ("30s", 30), ("1m", 60), (" 15 m ", 900), ("1h", 3600), ("366d", 366 * 86400),
])
def test_every_within_bounds_is_seconds(text: str, seconds: int) -> None:
    assert every_seconds(text) == seconds
    assert EVERY_MIN_S <= seconds <= EVERY_MAX_S


@pytest.mark.parametrize("text", ["29s", "0s", "0d", "367d", "8785h", "99999999999d"])
def test_every_outside_bounds_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="every must be between 30s and 366d"):
        every_seconds(text)


@pytest.mark.parametrize("text", ["often", "5x", "-1d", "1.5h", "", "9" * 100_000 + "s"])
def test_every_that_is_not_a_duration_is_refused_in_a_short_message(text: str) -> None:
    with pytest.raises(ValueError, match="every must look like 30s") as info:
        every_seconds(text)
    assert len(str(info.value)) < 200


def test_the_workflow_input_refuses_an_unbounded_every() -> None:
    with pytest.raises(ValueError, match="every: every must be between"):
        parse_input({"connection": "acme", "stream": "contacts", "every": "99999999999d"}, NOW)


@pytest.mark.parametrize(("since", "expected"), [
    ("2025-01-01", datetime(2025, 1, 1, tzinfo=UTC)),  # a date: its midnight, UTC
    ("2025-01-01T10:30:00", datetime(2025, 1, 1, 10, 30, tzinfo=UTC)),  # no zone: UTC
    ("2025-01-01T10:30:00Z", datetime(2025, 1, 1, 10, 30, tzinfo=UTC)),
    ("2025-01-01T12:30:00+02:00", datetime(2025, 1, 1, 10, 30, tzinfo=UTC)),
    ("2025-01-01 12:30+0200", datetime(2025, 1, 1, 10, 30, tzinfo=UTC)),
])
def test_backfill_reads_iso_dates_and_date_times_in_utc_unless_zoned(
    since: str, expected: datetime
) -> None:
    assert parse_backfill({"since": since}, NOW).since_ms == times.to_ms(expected)


@pytest.mark.parametrize("since", [5, 5.0, 1_700_000_000, "5", "1700000000", True, None,
                                   ["2025-01-01"], {"y": 2025}, "yesterday", "x" * 10_000])
def test_backfill_refuses_anything_but_iso_text(since: object) -> None:
    with pytest.raises(ValueError, match="since: ") as info:
        parse_backfill({"since": since}, NOW)
    assert len(str(info.value)) < 300


def test_backfill_until_must_be_after_since() -> None:
    for until in ("2025-01-01", "2024-12-31T23:59:59Z"):
        with pytest.raises(ValueError, match="until must be after since"):
            parse_backfill({"since": "2025-01-01", "until": until}, NOW)
    with pytest.raises(ValueError, match="until: must be an ISO date"):
        parse_backfill({"since": "2025-01-01", "until": 1_800_000_000}, NOW)


def test_backfill_since_is_at_most_now_and_not_before_1970() -> None:
    assert parse_backfill({"since": times.iso(NOW)}, NOW).since_ms == NOW
    with pytest.raises(ValueError, match=r"since is in the future \(now is 2026-06-01T12:00:00Z"):
        parse_backfill({"since": times.iso(NOW + 1)}, NOW)
    with pytest.raises(ValueError, match="since is in the future"):
        parse_backfill({"since": "2030-01-01", "until": "2031-01-01"}, NOW)
    with pytest.raises(ValueError, match="1970-01-01 or later"):
        parse_backfill({"since": "1969-12-31"}, NOW)


def test_a_backfill_in_the_workflow_input_is_checked_against_now_too() -> None:
    base = {"connection": "acme", "stream": "contacts"}
    with pytest.raises(ValueError, match="backfills.0: since is in the future"):
        parse_input({**base, "backfills": [{"since": "2030-01-01"}]}, NOW)
    with pytest.raises(ValueError, match="backfills.0.since: must be an ISO date"):
        parse_input({**base, "backfills": [{"since": 5}]}, NOW)
    with pytest.raises(ValueError, match=r"state.backfills.0: until must be after since"):
        parse_input({**base, "state": {"backfills": [{"since": "2025-02-01",
                                                      "until": "2025-01-01"}]}}, NOW)


def test_a_backfill_carried_through_continue_as_new_reads_back_the_same() -> None:
    window = parse_backfill({"since": "2025-01-01T12:30:00+02:00", "until": "2025-02-01"}, NOW)
    again = Backfill.model_validate(window.model_dump(mode="json"), context={"now_ms": NOW})
    assert (again.since_ms, again.until_ms) == (window.since_ms, window.until_ms)


def test_an_odd_key_is_named_in_a_message_of_sane_length() -> None:
    with pytest.raises(ValueError, match="Extra inputs are not permitted") as info:
        parse_input({"connection": "acme", "stream": "contacts", "k" * 100_000: 1}, NOW)
    assert len(str(info.value)) < 700


def test_the_run_method_and_backfill_take_exactly_one_input() -> None:
    assert one_input("backfill", ({"since": "2025-01-01"},), "{}") == {"since": "2025-01-01"}
    for args in ((), ({}, {})):
        with pytest.raises(ValueError, match=f"backfill takes one input.*got {len(args)} inputs"):
            one_input("backfill", args, "{}")


def test_pause_resume_and_sync_now_take_no_input() -> None:
    no_input("pause", ())
    with pytest.raises(ValueError, match="pause takes no input; got 1"):
        no_input("pause", (None,))


@pytest.mark.parametrize(("every", "seconds"), [
    ("15m", 900), ("2s", None), ("99999999999d", None), (None, None), (5, None), ("soon", None),
])
def test_a_reported_every_outside_the_bounds_is_no_interval(every: object,
                                                            seconds: int | None) -> None:
    # status and the staleness watch read `every` from running syncs, some started before the
    # bounds: one stale value must not break them for every stream.
    assert every_seconds_or_none(every) == seconds


def test_a_carried_deletes_pass_reads_back_and_is_bounded() -> None:
    state = {"deletes": {"started_ms": NOW, "cursor": {"after": "1050"}, "pages": 3,
                         "archived": 2}}
    carried = parse_input({"connection": "acme", "stream": "contacts", "state": state}, NOW)
    assert carried.state.deletes is not None and carried.state.deletes.cursor == {"after": "1050"}
    for bad in ({"started_ms": 10**20}, {"started_ms": NOW, "pages": -1},
                {"started_ms": NOW, "odd": 1}):
        with pytest.raises(ValueError, match="deletes"):
            parse_input({"connection": "acme", "stream": "contacts",
                         "state": {"deletes": bad}}, NOW)
