"""refresh_token's core on a real database and a token endpoint over HTTP: when a token is
due, one refresher per connection, and no database lock held across the provider's call."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.models import TokenRequest, TokenStatus
from activities.token import refresh
from infra.times import utcnow
from infra.transactions import Transactions
from sandbox import HubSpotSandbox, SandboxServer
from sandbox.hostile_tokens import TOKEN_PATH, HostileTokens, create_app
from starter import connections
from store import sync_state, token_refreshes, vault
from store.db import engine
from store.schema import stream_state
from tests.support.polling import until

MINUTE_MS = 60_000


@pytest.mark.parametrize(("lifetime_ms", "margin_ms", "due"), [
    (None, 300_000, 1_000_000 - 300_000),  # lifetime unknown: the whole margin, as before
    (60_000, 300_000, 1_000_000 - 30_000),  # shorter than the margin: half its lifetime
    (3_600_000, 300_000, 1_000_000 - 300_000),  # long enough: the margin
    (60_000, 0, 1_000_000)])
def test_a_token_is_due_a_margin_before_expiry_at_most_half_its_lifetime(
    lifetime_ms: int | None, margin_ms: int, due: int,
) -> None:
    assert TokenStatus(1, 1_000_000, True, lifetime_ms).refresh_at_ms(margin_ms) == due


def test_a_token_without_expiry_is_due_now() -> None:
    assert TokenStatus(1, None, False, 60_000).refresh_at_ms(300_000) is None


Setup = tuple[HubSpotSandbox, HostileTokens, httpx.AsyncClient]


@pytest.fixture
async def endpoint(database_url: str) -> AsyncIterator[Setup]:
    """A connection (default 300 s refresh margin) whose token endpoint gives 60 s tokens,
    rotating the refresh token each time."""
    sandbox = HubSpotSandbox(contacts=1, rotate_refresh_tokens=True, token_ttl_s=60)
    tokens = HostileTokens(sandbox.exchange_refresh_token)
    with SandboxServer(tokens, app=create_app(tokens)) as server:
        connections.add("lease", "hubspot", "t", {
            "base_url": server.url, "token_url": f"{server.url}{TOKEN_PATH}",
            "client_id": sandbox.client_id}, vault.Secrets(sandbox.client_secret,
                                                            sandbox.refresh_token))
        async with httpx.AsyncClient() as client:
            try:
                yield sandbox, tokens, client
            finally:
                tokens.release()


class _Reads(Transactions):
    """The database's transactions, counting the read-only ones (a waiting refresher polls)."""

    reads = 0

    async def read(self, fn: Any, *args: Any) -> Any:
        self.reads += 1
        return await super().read(fn, *args)


def _refresh(client: httpx.AsyncClient, stale_version: int | None = None,
             db: Transactions | None = None) -> Any:
    return ActivityEnvironment().run(refresh, db or Transactions(engine()), client,
                                     TokenRequest("lease", "contacts", stale_version))


def _leased() -> bool:
    with engine().connect() as conn:
        return token_refreshes.held(conn, "lease", utcnow())


async def test_no_database_lock_is_held_while_the_provider_answers(endpoint: Setup) -> None:
    sandbox, tokens, client = endpoint
    tokens.hold(at_most_s=30)
    refreshing = asyncio.ensure_future(_refresh(client))
    await until(tokens.arrived.is_set, 10, "the token call")
    # Any other write of the worker goes through meanwhile (on SQLite: the one writer lock).
    await asyncio.wait_for(Transactions(engine()).write(
        sync_state.record_error, "lease", "other", "server_error", "x", True), 10)
    assert tokens.answered == 0 and _leased()
    tokens.release()
    status = await refreshing
    assert status.refreshed and status.lifetime_ms == MINUTE_MS and not _leased()


async def test_concurrent_refreshers_wait_for_the_holder_and_use_its_token(
    endpoint: Setup,
) -> None:
    sandbox, tokens, client = endpoint
    tokens.hold(at_most_s=30)
    first = asyncio.ensure_future(_refresh(client))
    await until(tokens.arrived.is_set, 10, "the token call")
    polled = _Reads(engine())
    others = [asyncio.ensure_future(_refresh(client, db=polled)) for _ in range(3)]
    await until(lambda: polled.reads >= 3 * 3, 10, "the others to poll the lease")
    assert tokens.received == 1 and not any(o.done() for o in others)
    tokens.release()
    results = await asyncio.gather(first, *others)
    assert tokens.received == 1 and sandbox.stats["invalid_grants"] == 0
    assert [r.refreshed for r in results] == [True, False, False, False]
    assert {(r.version, r.lifetime_ms) for r in results} == {(results[0].version, MINUTE_MS)}


async def test_a_short_token_is_reused_until_half_its_lifetime(endpoint: Setup) -> None:
    sandbox, tokens, client = endpoint
    first = await _refresh(client)
    # Another stream, or the next run: a 60 s token under a 300 s margin is still good.
    again = await _refresh(client)
    assert (again.refreshed, again.version, tokens.received) == (False, first.version, 1)
    # Refused by the provider (a 401 on that version): refreshed whatever its expiry.
    forced = await _refresh(client, stale_version=first.version)
    assert forced.refreshed and forced.version == first.version + 1 and tokens.received == 2


async def test_a_lease_whose_holder_died_is_taken_over(endpoint: Setup) -> None:
    sandbox, tokens, client = endpoint
    with engine().begin() as conn:
        now = utcnow()
        token_refreshes.claim(conn, "lease", "died", now, now + timedelta(seconds=1))
    status = await asyncio.wait_for(_refresh(client), 10)
    assert status.refreshed and tokens.received == 1 and not _leased()


async def test_an_unusable_answer_keeps_the_rotated_refresh_token(endpoint: Setup) -> None:
    sandbox, tokens, client = endpoint
    first = await _refresh(client)
    tokens.answer_next(expires_in="soon")
    with pytest.raises(ApplicationError) as info:
        await _refresh(client, stale_version=first.version)
    assert (info.value.type, info.value.non_retryable) == ("auth_failure", True)
    assert "expires_in is not a number" in info.value.message
    with engine().connect() as conn:
        stored = vault.load(conn, "lease")
        # The new refresh token, beside the access token and lifetime of the last good answer.
        assert stored.secrets.refresh_token == sandbox.refresh_token
        assert token_refreshes.lifetime_s(conn, "lease", stored.version) == 60
        error = conn.execute(select(stream_state.c.last_error)).scalar_one()
        assert "expires_in is not a number" in error
    assert not _leased()
