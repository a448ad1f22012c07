"""The error envelope (connectors/errors.py): a provider's wait is never negative, never NaN and
at most a day, whichever connector read it; a longer one is logged once and capped."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest

from connectors.errors import MAX_WAIT_S, ProviderError, capped_wait_s


@pytest.mark.parametrize(("asked", "kept", "logged"), [
    (-5.0, 0.0, False), (0.5, 0.5, False), (MAX_WAIT_S, MAX_WAIT_S, False),
    (MAX_WAIT_S + 1, MAX_WAIT_S, True), (99_999_999.0, MAX_WAIT_S, True),
    (float("inf"), MAX_WAIT_S, True), (float("nan"), None, True),
])
def test_capped_wait(asked: float, kept: float | None, logged: bool,
                     caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, "tributary.provider"):
        assert capped_wait_s(asked, "rest fetch") == kept
    assert len(caplog.records) == (1 if logged else 0)
    if logged:
        assert caplog.records[0].getMessage().startswith(f"rest fetch: the provider asked to "
                                                         f"wait {asked:g}s")


@pytest.mark.parametrize(("asked", "delay"), [
    (99_999_999.0, timedelta(days=1)), (float("inf"), timedelta(days=1)), (float("nan"), None),
])
def test_every_provider_error_keeps_its_wait_within_a_day(
    asked: float, delay: timedelta | None, caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, "tributary.provider"):
        error = ProviderError("rate_limited", "slow down", "hubspot", "list", 429,
                              retry_after=asked)
        application_error = error.to_application_error()  # raised before: timedelta(inf)
    assert application_error.next_retry_delay == delay
    assert ("retry after 86400s" in str(error)) == (delay is not None)
    assert len(caplog.records) == 1  # once per occurrence, however often it is shown
