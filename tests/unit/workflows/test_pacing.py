"""Pacing: fairness keys and the spacing of a stream's own requests."""

from __future__ import annotations

from activities.models import RateKey, StreamInfo
from workflows.pacing import SHORT_WAIT_MS, Paced, pace, rate_key, wait_after_fetch


def info(rate: float | None = None) -> StreamInfo:
    return StreamInfo("acme", "contacts", "hubspot", "t", 0, 0, None, requests_per_second=rate,
                      rate_keys={"incremental": RateKey("search", 5.0)})


def test_requests_with_a_budget_of_their_own_get_a_key_of_their_own() -> None:
    assert rate_key(info(10.0), "incremental") == ("acme/search", 5.0)
    assert rate_key(info(10.0), "full_refresh") == ("acme", 10.0)
    assert rate_key(info(), None) == ("acme", None)


def test_without_a_rate_only_the_headroom_wait_counts() -> None:
    assert pace(None, 300, now_ms=1_000, paced_until=None) == Paced(300, None, None)
    assert pace(None, 0, now_ms=1_000, paced_until=5_000.0) == Paced(0, None, 5_000.0)


def test_requests_go_one_interval_apart() -> None:
    first = pace(4.0, 0, now_ms=10_000, paced_until=None)
    assert first == Paced(0, 10_000, 10_250.0)
    second = pace(4.0, 0, now_ms=10_100, paced_until=first.paced_until)
    assert second == Paced(150, 10_250, 10_500.0)


def test_a_key_that_fell_behind_builds_no_credit() -> None:
    late = pace(4.0, 0, now_ms=20_000, paced_until=10_250.0)
    assert late == Paced(0, 20_000, 20_250.0)


def test_headroom_waits_add_to_the_spacing_and_the_spacing_is_capped() -> None:
    assert pace(4.0, 500, now_ms=10_000, paced_until=10_100.0) == Paced(500, 10_500, 10_750.0)
    far = pace(1.0, 0, now_ms=10_000, paced_until=60_000.0)
    assert far == Paced(SHORT_WAIT_MS, 10_000 + SHORT_WAIT_MS, 13_000.0)


def test_long_slow_downs_are_timers_short_ones_wait_in_the_next_fetch() -> None:
    assert wait_after_fetch(0) == (0, 0)
    assert wait_after_fetch(SHORT_WAIT_MS) == (0, SHORT_WAIT_MS)
    assert wait_after_fetch(SHORT_WAIT_MS + 1) == (SHORT_WAIT_MS + 1, 0)
