"""Pages report the provider's headroom as a slow-down; the per-worker limiter paces fetch_page.

The HubSpot sandbox serves over loopback HTTP with a real rolling window. Its window is ten
minutes long here, so nothing ages out of it during a test: the counts are exact.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.fetch import fetch_page
from activities.models import FetchRequest, PageRef, TokenRequest
from activities.token import refresh_token
from connectors.base import PageRequest
from connectors.hubspot_api import Paths
from connectors.rest import RestConnector
from connectors.rest_config import RestSettings, load_config
from infra import limiter
from infra.times import utcnow
from sandbox import HubSpotSandbox, SandboxServer, hubspot_properties
from starter import connections
from store import properties, vault
from store.db import engine
from tests.support.stacks import EXAMPLES
from tests.support.tokens import refresh

WINDOW_MS = 600_000
_names = itertools.count(1)


@pytest.fixture
def portal(database_url: str) -> Iterator[tuple[HubSpotSandbox, str]]:
    """A portal of 10 contacts allowing 10 requests per window (the 10 % floor: 1 left)."""
    sandbox = HubSpotSandbox(contacts=10, rate_limit=10, interval_ms=WINDOW_MS)
    with SandboxServer(sandbox) as server:
        yield sandbox, server.url


def _connect(sandbox: HubSpotSandbox, url: str, **settings: Any) -> str:
    name = f"headroom-{next(_names)}"
    connections.add(name, "hubspot", "acme", {
        "base_url": url, "token_url": f"{url}/oauth/v1/token", "client_id": sandbox.client_id,
        "list_page_size": 1, **settings,
    }, vault.Secrets(sandbox.client_secret, sandbox.refresh_token))
    return name


async def _fetch(env: ActivityEnvironment, connection: str, page_no: int,
                 cursor: dict[str, Any] | None) -> PageRef:
    return await env.run(fetch_page, FetchRequest(
        connection, "contacts", f"{connection}/w", "full_refresh", None,
        int(time.time() * 1000), page_no, cursor))


def _known_properties(sandbox: HubSpotSandbox, connection: str) -> None:
    """The portal's property list, fresh in the cache: the first fetch asks for none, so every
    request counted here is a page."""
    names = [p["name"] for p in hubspot_properties.portal(sandbox).listed("contacts", False)]
    with engine().begin() as conn:
        properties.record(conn, connection, "contacts", names, utcnow())


async def test_hubspot_pages_slow_down_as_the_window_runs_out(
    portal: tuple[HubSpotSandbox, str],
) -> None:
    sandbox, url = portal
    connection = _connect(sandbox, url)
    _known_properties(sandbox, connection)
    env = ActivityEnvironment()
    await env.run(refresh_token, TokenRequest(connection, "contacts"))
    waits, cursor = [], None
    for page_no in itertools.count():
        ref = await _fetch(env, connection, page_no, cursor)
        waits.append(ref.slow_down_ms)
        cursor = ref.next_cursor
        if cursor is None:
            break
    # One page per request, 10 requests allowed: full speed while any is left, then one slot
    # of the window (window / 10) with nothing left.
    assert waits == [0] * 9 + [WINDOW_MS // 10]
    assert sandbox.stats["responses_429"] == 0


async def test_rest_connection_reports_headroom_from_configured_headers(
    portal: tuple[HubSpotSandbox, str],
) -> None:
    sandbox, url = portal
    config = load_config(EXAMPLES / "hubspot_like.toml")
    config["base_url"] = url
    config["auth"]["client_id"] = sandbox.client_id
    config["streams"]["contacts"]["params"]["limit"] = 1
    config["rate_limit"] |= {"limit_header": "X-HubSpot-RateLimit-Max",
                             "interval_s": WINDOW_MS / 1000}
    connector = RestConnector(RestSettings.model_validate(config))
    token = (await refresh(connector, sandbox.client_secret, sandbox.refresh_token)).access_token
    waits, cursor = [], None
    async with httpx.AsyncClient() as client:
        while True:
            page = await connector.fetch_page(client, token, PageRequest(
                "contacts", "full_refresh", None, int(time.time() * 1000), cursor))
            waits.append(page.slow_down_ms)
            cursor = page.next_cursor
            if cursor is None:
                break
    assert waits == [0] * 9 + [WINDOW_MS // 10]


def _pages(sandbox: HubSpotSandbox) -> int:
    """List requests (a window's first fetch also asks for the portal's properties)."""
    return int(sandbox.stats["endpoints"].get(f"GET {Paths().objects('contacts')}", 0))


async def test_fallback_mode_paces_fetch_page_per_connection(
    portal: tuple[HubSpotSandbox, str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    sandbox, url = portal
    # 0.02 requests/s: the second request's slot is 50 s away, beyond what one attempt waits.
    slow = _connect(sandbox, url, requests_per_second=0.02)
    other = _connect(sandbox, url, requests_per_second=0.02)
    env = ActivityEnvironment()
    for connection in (slow, other):
        await env.run(refresh_token, TokenRequest(connection, "contacts"))

    await _fetch(env, slow, 0, None)
    await _fetch(env, slow, 1, {"after": "0"})  # the server's limit is on: no local pacing
    assert _pages(sandbox) == 2

    monkeypatch.setenv(limiter.FORCE_ENV, "1")
    monkeypatch.delenv(limiter.WORKERS_ENV, raising=False)
    await _fetch(env, slow, 2, None)
    with pytest.raises(ApplicationError) as refused:
        await _fetch(env, slow, 3, None)
    assert refused.value.type == "rate_limited" and not refused.value.non_retryable
    delay = refused.value.next_retry_delay
    assert delay is not None and timedelta(seconds=49) < delay <= timedelta(seconds=50)
    assert _pages(sandbox) == 3  # the refused attempt never called the provider
    await _fetch(env, other, 0, None)  # another connection has its own slots
    assert _pages(sandbox) == 4
