"""Window planning: the range of a cycle or a backfill, and its slices."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from activities.models import StreamInfo
from workflows.inputs import Backfill, Slice
from workflows.windows import MIN_SLICE_MS, backfill_window, cycle_window, new_window, plan_slices

HOUR = 3_600_000
DAY = 24 * HOUR


def info(**extra: Any) -> StreamInfo:
    base = StreamInfo("acme", "contacts", "hubspot", "t", lookback_ms=60_000,
                      refresh_margin_ms=0, watermark_ms=None)
    return replace(base, **extra)


def test_the_window_id_names_the_workflow_kind_and_range() -> None:
    window = new_window("sync/acme/contacts", "backfill", None, 5_000)
    assert window.window_id == "sync/acme/contacts/backfill/0-5000"
    assert (window.kind, window.start_ms, window.end_ms) == ("backfill", None, 5_000)


def test_a_cycle_with_a_watermark_starts_one_lookback_before_it() -> None:
    window = cycle_window("w", info(), watermark_ms=1_000_000, full_refresh=False, now_ms=2_000_000)
    assert (window.kind, window.start_ms, window.end_ms) == ("incremental", 940_000, 2_000_000)
    early = cycle_window("w", info(), watermark_ms=10_000, full_refresh=False, now_ms=20_000)
    assert early.start_ms == 0


def test_a_cycle_without_watermark_or_asked_to_is_a_full_refresh_from_the_start_date() -> None:
    first = cycle_window("w", info(start_ms=777), watermark_ms=None, full_refresh=False,
                         now_ms=9_000)
    asked = cycle_window("w", info(), watermark_ms=5_000, full_refresh=True, now_ms=9_000)
    assert (first.kind, first.start_ms, first.end_ms) == ("full_refresh", 777, 9_000)
    assert (asked.kind, asked.start_ms) == ("full_refresh", None)


def test_a_backfill_runs_until_now_unless_told() -> None:
    since = datetime(2025, 1, 1, tzinfo=UTC)
    open_ended = backfill_window("w", Backfill(since=since), now_ms=1_800_000_000_000)
    assert (open_ended.start_ms, open_ended.end_ms) == (1_735_689_600_000, 1_800_000_000_000)
    bounded = backfill_window("w", Backfill(since=since, until=datetime(2025, 1, 2, tzinfo=UTC)),
                              now_ms=1_800_000_000_000)
    assert bounded.end_ms == 1_735_776_000_000


def test_a_long_sliceable_window_splits_into_equal_whole_second_slices() -> None:
    window = new_window("w", "backfill", 0, 3 * DAY + 1_500)
    slices = plan_slices(window, info(parallel_fetches=3, sliceable_kinds=("backfill",)))
    assert slices == [Slice(start_ms=0, end_ms=DAY), Slice(start_ms=DAY, end_ms=2 * DAY + 1_000),
                      Slice(start_ms=2 * DAY + 1_000, end_ms=3 * DAY + 1_500)]


def test_no_slice_is_shorter_than_the_minimum() -> None:
    window = new_window("w", "backfill", 0, 3 * MIN_SLICE_MS)
    slices = plan_slices(window, info(parallel_fetches=8, sliceable_kinds=("backfill",)))
    assert [(s.start_ms, s.end_ms) for s in slices] == [
        (0, HOUR), (HOUR, 2 * HOUR), (2 * HOUR, 3 * HOUR)]


def test_windows_that_cannot_be_split_are_one_slice() -> None:
    sliceable = info(parallel_fetches=4, sliceable_kinds=("backfill",))
    short = new_window("w", "backfill", 0, 2 * MIN_SLICE_MS - 1)
    unbounded = new_window("w", "backfill", None, 10 * DAY)
    other_kind = new_window("w", "full_refresh", 0, 10 * DAY)
    for window in (short, unbounded, other_kind):
        assert plan_slices(window, sliceable) == [
            Slice(start_ms=window.start_ms, end_ms=window.end_ms)]
