"""A connection's SLA: its `sla_s` setting, else twice the stream's interval, else one hour."""

from __future__ import annotations

from infra.staleness import sla_seconds


def test_sla_setting_wins_over_the_interval() -> None:
    assert sla_seconds({"sla_s": 90}, every_s=60) == 90


def test_sla_defaults_to_twice_the_interval_or_an_hour() -> None:
    assert sla_seconds({}, every_s=60) == 120
    assert sla_seconds({}, every_s=None) == 3600
