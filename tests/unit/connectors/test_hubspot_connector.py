"""The HubSpot connector against the sandbox over HTTP and against recorded error shapes."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import httpx
import pytest

from connectors.errors import ProviderError
from connectors.http import Reply
from connectors.hubspot import HubSpotConnector, HubSpotSettings
from connectors.mapping import default_mapping
from sandbox import HubSpotSandbox, SandboxServer
from tests.support.tokens import refresh


def _error(response: httpx.Response, body: Any, operation: str) -> ProviderError:
    connector = HubSpotConnector(HubSpotSettings(client_id="c"), {})
    return connector.error(Reply(response, body), operation)


def _response(status: int, body: Any, headers: dict[str, str] | None = None) -> httpx.Response:
    kwargs = {"json": body} if not isinstance(body, bytes) else {"content": body}
    return httpx.Response(status, headers=headers, **kwargs)


# Bodies as documented in shared/api-facts.md.
EXPIRED = {"status": "error", "message": "The OAuth token used to make this call expired 75 "
           "second(s) ago.", "correlationId": "c-1", "category": "EXPIRED_AUTHENTICATION"}
TEN_SECONDLY = {"status": "error", "message": "You have reached your ten_secondly_rolling limit.",
                "errorType": "RATE_LIMIT", "correlationId": "c-2",
                "policyName": "TEN_SECONDLY_ROLLING"}
DAILY = {"status": "error", "message": "You have reached your daily limit.",
         "errorType": "RATE_LIMIT", "correlationId": "c-3", "policyName": "DAILY"}
SECONDLY = {"status": "error", "message": "You have reached your secondly limit.",
            "errorType": "RATE_LIMIT", "correlationId": "c-4"}
VALIDATION = {"status": "error", "message": "Property values were not valid",
              "category": "VALIDATION_ERROR", "correlationId": "c-5"}


@pytest.mark.parametrize(
    ("status", "body", "headers", "category", "retry_after"),
    [
        (401, EXPIRED, {}, "auth_failure", None),
        (429, TEN_SECONDLY, {"X-HubSpot-RateLimit-Interval-Milliseconds": "10000"},
         "rate_limited", 10.0),
        (429, TEN_SECONDLY, {"Retry-After": "3"}, "rate_limited", 3.0),
        # Absurd numbers: no number is the documented window; years are a day.
        (429, TEN_SECONDLY, {"Retry-After": "inf"}, "rate_limited", 10.0),
        (429, TEN_SECONDLY, {"X-HubSpot-RateLimit-Interval-Milliseconds": "9" * 15},
         "rate_limited", 86_400.0),
        (429, SECONDLY, {}, "rate_limited", 1.0),
        (400, VALIDATION, {}, "validation_error", None),
        (502, {"status": "error", "message": "Bad gateway"}, {}, "server_error", None),
        (504, b"<html>gateway timeout</html>", {}, "timeout", None),
        (423, {"status": "error", "message": "locked"}, {}, "conflict", 2.0),
        (200, VALIDATION, {}, "validation_error", None),
        (200, {"status": "error", "message": "boom", "category": "INTERNAL_ERROR"}, {},
         "server_error", None),
        (200, b'{"results": [', {}, "server_error", None),
    ],
)
def test_errors_map_to_the_envelope(
    status: int, body: Any, headers: dict, category: str, retry_after: float | None
) -> None:
    error = _error(_response(status, body, headers), None if isinstance(body, bytes) else body,
                   "search")
    assert (error.category, error.status, error.retry_after) == (category, status, retry_after)
    if isinstance(body, dict) and "correlationId" in body:
        assert error.request_id == body["correlationId"]
        assert body["correlationId"] in str(error)


def test_daily_limit_waits_until_reset() -> None:
    error = _error(_response(429, DAILY), DAILY, "list")
    assert error.retry_after is not None and 0 < error.retry_after <= 86_400


def test_application_error_carries_category_and_delay() -> None:
    app = ProviderError("rate_limited", "slow down", "hubspot", "list", 429, "c",
                        2.5).to_application_error()
    assert (app.type, app.non_retryable, app.next_retry_delay) == (
        "rate_limited", False, timedelta(seconds=2.5))
    auth = ProviderError("auth_failure", "expired", "hubspot", "list", 401).to_application_error()
    assert auth.non_retryable
    assert auth.details[0]["status"] == 401


@pytest.fixture
def live() -> Any:
    sandbox = HubSpotSandbox(contacts=120, seed=9, rate_limit=10_000, search_per_second=10_000)
    with SandboxServer(sandbox) as server:
        settings = HubSpotSettings(base_url=server.url, token_url=f"{server.url}/oauth/v1/token",
                                   client_id=sandbox.client_id, search_page_size=7)
        props = {"contacts": default_mapping("hubspot", "contacts").source_properties()}
        yield sandbox, HubSpotConnector(settings, props)


async def _walk(connector: HubSpotConnector, token: str, kind: str, start: int | None) -> list:
    from connectors.base import PageRequest

    seen, cursor, pages = [], None, 0
    async with httpx.AsyncClient() as client:
        while True:
            page = await connector.fetch_page(client, token, PageRequest(
                "contacts", kind, start, int(time.time() * 1000), cursor))  # type: ignore[arg-type]  # a SyncKind, as str
            seen += [r["id"] for r in page.records]
            pages += 1
            cursor = page.next_cursor
            if cursor is None:
                return seen


async def test_keyset_search_walks_ties_without_skipping_or_looping(live: Any) -> None:
    sandbox, connector = live
    tied = int(time.time() * 1000) - 10_000
    sandbox.create_contacts(23, lastmodified_ms=tied)  # > 3 pages of 7 on one millisecond
    token = (await refresh(connector, sandbox.client_secret, sandbox.refresh_token)).access_token
    ids = await _walk(connector, token, "incremental", 0)
    expected = {r["id"] for r in sandbox.records("contacts")}
    assert set(ids) == expected  # nothing skipped
    assert len(ids) < 2 * len(expected)  # overlap is bounded: no loop


async def test_list_walks_every_record_once(live: Any) -> None:
    sandbox, connector = live
    token = (await refresh(connector, sandbox.client_secret, sandbox.refresh_token)).access_token
    ids = await _walk(connector, token, "full_refresh", None)
    assert sorted(ids) == sorted(r["id"] for r in sandbox.records("contacts"))
    assert len(ids) == len(set(ids))


async def test_revoked_refresh_token_is_an_auth_failure(live: Any) -> None:
    sandbox, connector = live
    sandbox.revoke_refresh_token()
    with pytest.raises(ProviderError) as info:
        await refresh(connector, sandbox.client_secret, sandbox.refresh_token)
    assert info.value.category == "auth_failure"
    assert sandbox.refresh_token not in str(info.value)
