"""Every duration a connection sets is bounded: absurd values fail when the settings are read."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from connectors.base import DAY_S, MAX_TIMEOUT_S
from connectors.hubspot_api import HubSpotSettings
from connectors.rest_config import RateLimit
from connectors.salesforce_api import SalesforceSettings


@pytest.mark.parametrize(("key", "value"), [
    ("lookback_s", 10**15), ("refresh_margin_s", 2 * DAY_S), ("timeout_s", MAX_TIMEOUT_S + 1),
    ("sla_s", 10.0**15),
])
def test_durations_every_connection_sets_are_bounded(key: str, value: Any) -> None:
    with pytest.raises(ValidationError, match=key):
        HubSpotSettings(client_id="c", **{key: value})


@pytest.mark.parametrize(("key", "value"), [
    ("session_timeout_s", 10**9), ("request_limit_retry_s", 10.0**9)])
def test_salesforce_durations_are_bounded(key: str, value: Any) -> None:
    with pytest.raises(ValidationError, match=key):
        SalesforceSettings(client_id="c", base_url="https://x.example", **{key: value})


@pytest.mark.parametrize("key", ["default_retry_s", "interval_s"])
def test_rest_rate_limit_durations_are_bounded(key: str) -> None:
    with pytest.raises(ValidationError, match=key):
        RateLimit(**{key: 10.0**9})


def test_the_largest_values_allowed_are_accepted() -> None:
    settings = HubSpotSettings(client_id="c", lookback_s=366 * DAY_S, refresh_margin_s=DAY_S,
                               timeout_s=MAX_TIMEOUT_S, sla_s=366 * DAY_S)
    assert settings.timeout_s == MAX_TIMEOUT_S
