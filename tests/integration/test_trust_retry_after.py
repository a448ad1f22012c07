"""Absurd waits from a provider (issue 14, item 4): Retry-After and rate-limit reset values are
finite and at most a day, through the real worker, the dev server and a hostile provider over
HTTP (sandbox/hostile_bodies.py).

`Retry-After: 99999999` once scheduled the next attempt three years out; `inf` and `nan` crashed
the attempt (timedelta) and it went on as an unexplained Python error; a reset years away held
the stream that long, and one too long for a float crashed every attempt.
The rule lives in the connectors (connectors.errors, connectors.headroom); the database only
records the error (SQLite suffices).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from temporalio.client import WorkflowHandle

from sandbox.hostile_bodies import HostileApi, create_app
from starter import status
from tests.support.polling import until

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

DAY = timedelta(days=1)
DEFAULT_RETRY_S = 1
RATE_LIMIT = {"remaining_header": "X-RateLimit-Remaining", "reset_header": "X-RateLimit-Reset",
              "limit": 100, "default_retry_s": DEFAULT_RETRY_S}
YEAR_5138 = "99999999999"  # epoch seconds
TOO_LONG_FOR_A_FLOAT = "9" * 400


def hostile(rest_stack: Any, api: HostileApi) -> Any:
    return rest_stack("people", api, app=create_app, path="/v1/hostile/paged",
                      records_path="data", rate_limit=RATE_LIMIT,
                      pagination={"type": "cursor", "cursor_path": "next", "param": "cursor"})


async def pending_failure(handle: WorkflowHandle[Any, Any]) -> Any:
    """The pending fetch_page once an attempt of it has failed."""

    async def failed() -> Any:
        description = await handle.describe()
        return next((p for p in description.raw_description.pending_activities
                     if p.activity_type.name == "fetch_page" and p.HasField("last_failure")),
                    None)

    return await until(failed, 60, "a failed fetch_page attempt")


@pytest.mark.parametrize(("status_code", "headers"), [
    (429, {"Retry-After": "99999999"}),
    (503, {"Retry-After": "99999999"}),
    (429, {"X-RateLimit-Reset": YEAR_5138}),
], ids=["429_retry_after", "503_retry_after", "429_reset_years_away"])
async def test_a_wait_longer_than_a_day_is_a_day(
    rest_stack: Any, status_code: int, headers: dict[str, str],
) -> None:
    stack = hostile(rest_stack, HostileApi(answers=[(status_code, headers)]))
    handle = await stack.start("people")
    pending = await pending_failure(handle)
    info = pending.last_failure.application_failure_info
    assert info.type == ("rate_limited" if status_code == 429 else "server_error")
    assert info.next_retry_delay.ToTimedelta() == DAY
    assert "retry after 86400s" in pending.last_failure.message
    assert pending.next_attempt_schedule_time.ToDatetime(UTC) <= datetime.now(UTC) + DAY
    # What `status --json` shows the operator: held back a day at most.
    rows, _ = await status.collect(target=stack.client.service_client.config.target_host)
    row = next(r for r in rows if r["connection"] == stack.connection)
    until_at = datetime.fromisoformat(row["rate_limited_until"])
    assert datetime.now(UTC) + DAY - timedelta(minutes=5) < until_at <= datetime.now(UTC) + DAY


@pytest.mark.parametrize("headers", [
    {"Retry-After": "inf"}, {"Retry-After": "nan"}, {"X-RateLimit-Reset": TOO_LONG_FOR_A_FLOAT},
], ids=["inf", "nan", "reset_too_long_for_a_float"])
async def test_a_wait_that_is_no_number_is_the_default_window(
    rest_stack: Any, headers: dict[str, str],
) -> None:
    stack = hostile(rest_stack, HostileApi(answers=[(429, headers)]))
    handle = await stack.start("people")
    await asyncio.wait_for(handle.result(), 60)
    retried = [e.activity_task_started_event_attributes.last_failure
               for e in (await handle.fetch_history()).events
               if e.HasField("activity_task_started_event_attributes")
               and e.activity_task_started_event_attributes.HasField("last_failure")]
    assert len(retried) == 1
    info = retried[0].application_failure_info
    assert info.type == "rate_limited", retried[0].message  # not a crash in the attempt
    assert info.next_retry_delay.ToTimedelta() == timedelta(seconds=DEFAULT_RETRY_S)
    stack.assert_destination_equals_sandbox("people")


async def test_a_headroom_reset_years_away_slows_the_stream_a_day_at_most(
    rest_stack: Any,
) -> None:
    api = HostileApi(people=60, page_headers={"X-RateLimit-Remaining": "0",
                                              "X-RateLimit-Reset": YEAR_5138})
    stack = hostile(rest_stack, api)
    handle = await stack.start("people")

    async def timer() -> Any:
        return next((e.timer_started_event_attributes
                     for e in (await handle.fetch_history()).events
                     if e.HasField("timer_started_event_attributes")), None)

    started = await until(timer, 60, "the stream's slow-down timer")
    assert started.start_to_fire_timeout.ToTimedelta() == DAY


async def test_a_headroom_reset_too_long_for_a_float_is_no_reset(rest_stack: Any) -> None:
    api = HostileApi(people=60, page_headers={"X-RateLimit-Remaining": "0",
                                              "X-RateLimit-Reset": TOO_LONG_FOR_A_FLOAT})
    stack = hostile(rest_stack, api)
    await asyncio.wait_for(stack.sync("people"), 60)
    stack.assert_destination_equals_sandbox("people")
