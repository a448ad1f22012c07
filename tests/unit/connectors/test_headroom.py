"""Headroom: how long a stream waits before its next request, from what the provider reports."""

from __future__ import annotations

import time

import httpx
import pytest

from connectors import hubspot
from connectors.headroom import DAY_MS, MAX_DIGITS, header_int, slow_down_ms
from connectors.rest import RestConnector
from connectors.rest_config import RestSettings, load_config
from connectors.salesforce import SalesforceConnector
from connectors.salesforce_api import SalesforceSettings
from tests.support.stacks import EXAMPLES


@pytest.mark.parametrize(
    ("remaining", "maximum", "interval_ms", "expected"),
    [
        (100, 100, 10_000, 0),  # a fresh window
        (2, 100, 10_000, 0),  # just above the 1 % floor
        (1, 100, 10_000, 500),  # at the floor: half the server's one-second burst
        (0, 100, 10_000, 1_000),  # nothing left: the whole burst leaves the window
        (-3, 100, 10_000, 1_000),  # a provider that counts below zero
        (0, 1_000, 86_400_000, 950_400),  # a day's window: 11 slots of 86.4 s
        (0, 10, 0, 0),  # the window resets now
        (None, 100, 10_000, 0),  # no header: no opinion
        (0, None, 10_000, 0),
        (0, 0, 10_000, 0),
        (0, 100, None, 0),
    ],
)
def test_slow_down_ms(
    remaining: int | None, maximum: int | None, interval_ms: float | None, expected: int
) -> None:
    assert slow_down_ms(remaining, maximum, interval_ms) == expected


def test_waits_grow_as_the_budget_shrinks() -> None:
    for rolling, last in ((True, 1_000), (False, 10_000)):
        waits = [slow_down_ms(r, 1_000, 10_000, rolling=rolling) for r in range(10, -1, -1)]
        assert waits == sorted(waits) and waits[0] > 0 and waits[-1] == last
        assert slow_down_ms(11, 1_000, 10_000, rolling=rolling) == 0


def test_a_known_reset_spreads_the_rest_until_then() -> None:
    assert slow_down_ms(2, 100, 10_000, rolling=False) == 0  # above the floor
    assert slow_down_ms(1, 100, 10_000, rolling=False) == 5_000  # the rest over 2 requests
    assert slow_down_ms(0, 100, 10_000, rolling=False) == 10_000  # nothing left: until reset


def test_header_int_reads_only_plain_counts() -> None:
    headers = httpx.Headers({"a": " 42 ", "b": "-1", "c": "1.5", "d": b"\xb2"})
    assert [header_int(headers, n) for n in ("a", "b", "c", "d", "e", None)] == [
        42, None, None, None, None, None]


def test_header_int_takes_no_number_longer_than_a_float_holds() -> None:
    headers = httpx.Headers({"a": "9" * MAX_DIGITS, "b": "9" * (MAX_DIGITS + 1), "c": "9" * 400})
    assert [header_int(headers, n) for n in ("a", "b", "c")] == [int("9" * MAX_DIGITS), None,
                                                                  None]


def test_a_wait_is_a_day_at_most() -> None:
    years_ms = 10**14
    assert slow_down_ms(0, 100, years_ms, rolling=False) == DAY_MS  # a reset years away
    assert slow_down_ms(0, 1, years_ms) == DAY_MS  # a rolling window years long
    assert slow_down_ms(0, 100, DAY_MS, rolling=False) == DAY_MS  # a day's reset stays whole


def test_hubspot_burst_and_daily_headroom() -> None:
    def burst(remaining: int) -> httpx.Headers:
        return httpx.Headers({"X-HubSpot-RateLimit-Remaining": str(remaining),
                              "X-HubSpot-RateLimit-Max": "100",
                              "X-HubSpot-RateLimit-Interval-Milliseconds": "10000"})

    assert hubspot.slow_down(burst(60)) == 0
    assert hubspot.slow_down(burst(2)) == 0
    assert hubspot.slow_down(burst(1)) == 500
    # Search answers carry no burst headers: plenty, as far as this page can tell.
    assert hubspot.slow_down(httpx.Headers()) == 0
    daily = burst(60)
    daily.update({"X-HubSpot-RateLimit-Daily": "250000",
                  "X-HubSpot-RateLimit-Daily-Remaining": "0"})
    # The daily budget resets at midnight UTC: the wait lasts until then, at most a day.
    assert 0 < hubspot.slow_down(daily) <= DAY_MS
    daily["X-HubSpot-RateLimit-Daily-Remaining"] = "200000"
    assert hubspot.slow_down(daily) == 0


def test_salesforce_spreads_the_daily_allowance_within_the_retry_cap() -> None:
    connector = SalesforceConnector(SalesforceSettings(
        base_url="https://acme.my.salesforce.com", client_id="c", request_limit_retry_s=600), {})
    assert connector.slow_down({"used": 10_000, "limit": 100_000}) == 0
    assert connector.slow_down({"used": 98_999, "limit": 100_000}) == 0  # above the 1 % floor
    # 500 calls left of 100,000: 501 slots of the day's pace (864 ms per call).
    assert connector.slow_down({"used": 99_500, "limit": 100_000}) == 432_864
    # Nothing left: no longer than the wait REQUEST_LIMIT_EXCEEDED would impose.
    assert connector.slow_down({"used": 100_000, "limit": 100_000}) == 600_000


def _rest(**rate_limit: object) -> RestConnector:
    config = load_config(EXAMPLES / "people_api.toml")
    config["rate_limit"] |= rate_limit
    return RestConnector(RestSettings.model_validate(config))


def test_rest_headroom_from_its_configured_headers() -> None:
    low = httpx.Headers({"X-RateLimit-Remaining": "1", "X-RateLimit-Limit": "60"})
    # Remaining only: the connection cannot judge it, it never slows down early.
    assert _rest().slow_down(low, 1) == 0
    # A rolling minute of 60: a slot is a second; the floor (1 %) is below one request.
    with_window = _rest(limit_header="X-RateLimit-Limit", interval_s=60)
    assert with_window.slow_down(low, 0) == 1_000
    assert with_window.slow_down(low, 1) == 0
    fixed_budget = _rest(limit=60, interval_s=60)
    assert fixed_budget.slow_down(httpx.Headers(), 0) == 1_000
    # A reset header says how much of the window is left: that is what gets spread.
    resets = _rest(limit_header="X-RateLimit-Limit", interval_s=3600,
                   reset_header="X-RateLimit-Reset")
    low["X-RateLimit-Reset"] = str(int(time.time()) + 20)
    assert 0 < resets.slow_down(low, 0) <= 20_000
