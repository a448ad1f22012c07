"""Health rules: red while failing or stale beyond the SLA, yellow when never synced."""

from __future__ import annotations

from datetime import datetime, timedelta
from types import SimpleNamespace

from starter.status import health

NOW = datetime(2025, 6, 1, 12, 0)


def state(success_ago: float | None, error_ago: float | None) -> SimpleNamespace:
    def at(minutes: float | None) -> datetime | None:
        return None if minutes is None else NOW - timedelta(minutes=minutes)

    return SimpleNamespace(last_success_at=at(success_ago), last_error_at=at(error_ago))


def test_red_when_the_last_error_is_newer_than_the_last_success() -> None:
    assert health(state(10, 5), NOW) == "red"
    assert health(state(None, 5), NOW) == "red"


def test_yellow_when_never_synced() -> None:
    assert health(None, NOW) == "yellow"
    assert health(state(None, None), NOW) == "yellow"


def test_red_when_stale_beyond_the_sla() -> None:
    assert health(state(61, None), NOW) == "red"  # default SLA: one hour
    assert health(state(31, None), NOW, interval=timedelta(minutes=15)) == "red"


def test_green_when_recent_and_not_failing_since() -> None:
    assert health(state(10, 20), NOW) == "green"
    assert health(state(29, None), NOW, interval=timedelta(minutes=15)) == "green"
    assert health(state(90, None), NOW, interval=timedelta(hours=1)) == "green"


def test_a_connection_sla_overrides_the_interval_and_blocked_is_red() -> None:
    assert health(state(20, None), NOW, interval=timedelta(hours=1),
                  config={"sla_s": 600}) == "red"
    assert health(state(5, None), NOW, config={"sla_s": 600}) == "green"
    assert health(state(5, None), NOW, blocked=True) == "red"
