"""Token refresh at the trust boundary, end to end: a provider's absurd lifetimes and broken
answers, tokens shorter than the refresh margin, and a slow token endpoint (issue 14: 4, 6, 7).

Hostile answers come from sandbox/hostile_tokens.py, in front of the HubSpot sandbox's grants.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from temporalio.client import WorkflowHandle

from sandbox import SandboxServer
from sandbox.hostile_tokens import DROP, TOKEN_PATH, HostileTokens, create_app
from store import vault
from store.db import engine
from tests.support.polling import until
from tests.support.stacks import Stack, wait_for_status

# A held token answer waits for the test to release it; this bound only keeps a failing test
# from hanging (it is longer than anything the test waits for meanwhile).
HOLD_AT_MOST_S = 90.0


@pytest.fixture
def tokens() -> Iterator[tuple[HostileTokens, str]]:
    hostile = HostileTokens()
    with SandboxServer(hostile, app=create_app(hostile)) as server:
        try:
            yield hostile, f"{server.url}{TOKEN_PATH}"
        finally:
            hostile.release()  # a held request must not outlive the test


def _behind(make_stack: Any, tokens: tuple[HostileTokens, str], settings: dict[str, Any] | None,
            **sandbox_args: Any) -> tuple[Stack, HostileTokens]:
    """A HubSpot stack whose token URL is the hostile endpoint, handing out its grants."""
    hostile, url = tokens
    stack = make_stack({"token_url": url, **(settings or {})}, **sandbox_args)
    hostile.grants = stack.sandbox.exchange_refresh_token
    return stack, hostile


def _stored_refresh_token(stack: Stack) -> str:
    with engine().connect() as conn:
        return vault.load(conn, stack.connection).secrets.refresh_token


@pytest.mark.parametrize("expires_in", ["soon", 10**15, 0, -1])
async def test_an_absurd_expires_in_parks_the_stream_and_keeps_the_rotated_refresh_token(
    make_stack: Any, tokens: tuple[HostileTokens, str], expires_in: Any,
) -> None:
    stack, hostile = _behind(make_stack, tokens, {"list_page_size": 50}, contacts=120,
                             rotate_refresh_tokens=True)
    sent = stack.sandbox.refresh_token
    hostile.answer_next(expires_in=expires_in)
    handle = await stack.start()
    status = await wait_for_status(handle, lambda s: s["state"] == "needs_reauthorization")
    reason = status["blocked"]
    assert "unusable token response: expires_in" in reason
    assert "outside 1 s to a year" in reason or "is not a number" in reason
    # Not retried: one call, and the refresh token it rotated is the one stored.
    assert hostile.received == 1
    assert _stored_refresh_token(stack) == stack.sandbox.refresh_token != sent
    # So after `resume` the next refresh is accepted (the sandbox rejects the retired token).
    await handle.signal("resume")
    await asyncio.wait_for(handle.result(), 60)
    assert (hostile.received, stack.sandbox.stats["invalid_grants"]) == (2, 0)
    stack.assert_destination_equals_sandbox()


async def test_an_answer_without_access_token_keeps_the_rotated_refresh_token(
    make_stack: Any, tokens: tuple[HostileTokens, str],
) -> None:
    stack, hostile = _behind(make_stack, tokens, {"list_page_size": 50}, contacts=120,
                             rotate_refresh_tokens=True)
    hostile.answer_next(access_token=DROP)
    summary = await asyncio.wait_for(stack.sync(), 60)
    # A malformed answer is retried, with the refresh token that answer rotated in.
    assert (hostile.received, stack.sandbox.stats["invalid_grants"]) == (2, 0)
    assert summary["token_refreshes"] == 1
    stack.assert_destination_equals_sandbox()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # a minute; no SQL in it
async def test_a_token_shorter_than_the_margin_is_refreshed_twice_a_minute(
    make_stack: Any,
) -> None:
    # 60 s tokens under the default 300 s margin: the margin is cut to half the lifetime.
    # Two requests a second for 100 pages: a sync of about 50 s.
    stack = make_stack({"list_page_size": 2, "requests_per_second": 2}, contacts=200,
                       token_ttl_s=60)
    started = asyncio.get_running_loop().time()
    summary = await asyncio.wait_for(stack.sync(), 120)
    minutes = (asyncio.get_running_loop().time() - started) / 60
    refreshes = stack.provider_requests("/oauth/v1/token")
    assert summary["pages"] >= 100 and minutes > 0.75
    gaps = [later - earlier for earlier, later in zip(refreshes, refreshes[1:], strict=False)]
    # Refreshed ahead of expiry (no 401 ever), half a lifetime apart: at most 2 a minute.
    seen = f"{len(refreshes)} refreshes in {minutes * 60:.1f} s, gaps {gaps[:5]}"
    assert len(refreshes) >= 2 and all(gap >= 29 for gap in gaps), seen
    assert len(refreshes) - 1 <= 2 * minutes, seen
    assert stack.sandbox.stats["statuses"].get("401", 0) == 0
    stack.assert_destination_equals_sandbox()


async def test_a_slow_token_endpoint_never_delays_another_connection(
    make_stack: Any, tokens: tuple[HostileTokens, str],
) -> None:
    slow, hostile = _behind(make_stack, tokens, {"list_page_size": 20}, contacts=60)
    other = make_stack({"list_page_size": 20}, contacts=300, seed=8)
    hostile.hold(at_most_s=HOLD_AT_MOST_S)
    held = await slow.start()
    await until(lambda: hostile.arrived.is_set(), 30, "the slow refresh to be in flight")
    # The other connection refreshes, stages, transforms and upserts all it has, and commits,
    # while the slow connection's token call is still unanswered.
    await asyncio.wait_for(other.sync(), 60)
    assert hostile.answered == 0, "the other connection waited for the slow token call"
    other.assert_destination_equals_sandbox()
    hostile.release()
    await asyncio.wait_for(held.result(), 60)
    slow.assert_destination_equals_sandbox()


async def _refreshing(handle: WorkflowHandle[Any, Any]) -> bool:
    pending = (await handle.describe()).raw_description.pending_activities
    return any(a.activity_type.name == "refresh_token" for a in pending)


async def test_concurrent_refreshers_spend_a_rotating_refresh_token_once(
    sf_stack: Any, tokens: tuple[HostileTokens, str],
) -> None:
    # Two streams of one Salesforce connection need their first token at once; the org
    # rotates refresh tokens, so a second use of the one stored would be refused.
    hostile, url = tokens
    stack = sf_stack({"session_timeout_s": 3600, "token_url": url}, contacts=60, accounts=60,
                     opportunities=0, rotate_refresh_tokens=True)
    hostile.grants = stack.sandbox.token
    hostile.hold(at_most_s=HOLD_AT_MOST_S)
    handles = [await stack.start("contacts"), await stack.start("companies")]

    async def both_refreshing() -> bool:
        return hostile.arrived.is_set() and all([await _refreshing(h) for h in handles])

    await until(both_refreshing, 30, "both streams to be refreshing")
    hostile.release()
    await asyncio.wait_for(asyncio.gather(*(h.result() for h in handles)), 60)
    assert (hostile.received, stack.sandbox.stats["invalid_grant"]) == (1, 0)
    assert _stored_refresh_token(stack) == stack.sandbox.refresh_token
    stack.assert_destination_equals_sandbox("contacts")
    stack.assert_destination_equals_sandbox("companies")
