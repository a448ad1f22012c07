"""Answers too large or too slow (issue 14, item 5), through the real worker, the dev server and
a hostile provider over HTTP (sandbox/hostile_bodies.py): a page or a token answer over
`max_response_bytes` parks the stream with a validation_error that names the setting; a body
that never ends, or trickles in a byte at a time, is a timeout once `timeout_s` is over, whatever
each read takes.

The rule lives in the connector base; the database only records the error (SQLite suffices).
"""

from __future__ import annotations

from typing import Any

import pytest
from temporalio.api.enums.v1 import PendingActivityState
from temporalio.api.failure.v1 import Failure
from temporalio.client import WorkflowExecutionStatus, WorkflowHandle

from sandbox.hostile_bodies import HostileApi, create_app
from tests.support.polling import until
from tests.support.stacks import wait_for_status

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

LIMIT = 64 * 1024  # the smallest max_response_bytes allowed
PAGES = {"records_path": "data",
         "pagination": {"type": "cursor", "cursor_path": "next", "param": "cursor"}}


def hostile(rest_stack: Any, api: HostileApi, mode: str, **changes: Any) -> Any:
    return rest_stack("people", api, app=create_app, path=f"/v1/hostile/{mode}",
                      **PAGES, **changes)


async def failed_attempt(handle: WorkflowHandle[Any, Any]) -> Failure:
    """The last failure of the pending fetch_page, once an attempt has failed; fails at once if
    the sync finished instead."""

    async def failure() -> Failure | None:
        description = await handle.describe()
        assert description.status == WorkflowExecutionStatus.RUNNING, description.status
        for pending in description.raw_description.pending_activities:
            if pending.activity_type.name == "fetch_page" and pending.HasField("last_failure") \
                    and pending.state != PendingActivityState.PENDING_ACTIVITY_STATE_STARTED:
                return pending.last_failure
        return None

    found: Failure = await until(failure, 60, "a failed fetch_page attempt")
    return found


@pytest.mark.parametrize("chunked", [False, True], ids=["content_length", "chunked"])
async def test_a_page_over_max_response_bytes_parks_the_stream(
    rest_stack: Any, chunked: bool,
) -> None:
    # Chunked, the size shows only as it streams in; with a Content-Length, before any of it.
    api = HostileApi(people=30, page_bytes=4 * LIMIT)
    stack = hostile(rest_stack, api, "huge", max_response_bytes=LIMIT,
                    params={"chunked": "1"} if chunked else {})
    handle = await stack.start("people")
    status = await wait_for_status(handle, lambda s: s["blocked"] is not None)
    blocked = status["blocked"]
    assert blocked.startswith("validation_error: rest fetch page 0 HTTP 200"), blocked
    assert f"larger than max_response_bytes ({LIMIT} bytes)" in blocked, blocked
    assert "lower the stream's page size" in blocked, blocked
    assert len(stack.provider_requests("/v1/hostile/huge")) == 1  # refused, not retried
    assert stack.destination("people") == {}
    assert stack.state("people").errors_by_category == {"validation_error": 1}


@pytest.mark.parametrize("mode", ["endless", "trickle"])
async def test_a_body_that_does_not_end_within_timeout_s_is_a_timeout(
    rest_stack: Any, mode: str,
) -> None:
    # Every read of both bodies is quick (10 ms, 50 ms): only a deadline on the whole exchange
    # ends them. Unbounded, the trickled page (about 300 bytes, 15 s) would sync; the endless
    # one would be read until max_response_bytes (64 MiB at 100 kB/s).
    api = HostileApi(people=2, trickle_s=0.05)
    stack = hostile(rest_stack, api, mode, timeout_s=1)
    handle = await stack.start("people")
    failure = await failed_attempt(handle)
    assert failure.application_failure_info.type == "timeout", failure.message
    assert failure.message.startswith("timeout: rest fetch page 0 no HTTP status: no response "
                                      "within 1s (timeout_s, "), failure.message
    state = stack.state("people")
    assert state.errors_by_category["timeout"] >= 1
    assert "no response within 1s (timeout_s, " in state.last_error
    assert stack.destination("people") == {}


async def test_a_token_answer_over_max_response_bytes_parks_the_stream(rest_stack: Any) -> None:
    api = HostileApi(page_bytes=4 * LIMIT)
    stack = hostile(rest_stack, api, "paged", max_response_bytes=LIMIT, auth={
        "type": "oauth2_client_credentials", "token_url": "/oauth/huge", "client_id": "c"})
    handle = await stack.start("people")
    status = await wait_for_status(handle, lambda s: s["blocked"] is not None)
    blocked = status["blocked"]
    assert blocked.startswith("validation_error: rest refresh_token HTTP 200"), blocked
    assert f"larger than max_response_bytes ({LIMIT} bytes)" in blocked, blocked
    assert stack.provider_requests("/v1/hostile/paged") == []  # no token, no page
