"""The Salesforce connector against the sandbox over HTTP: OAuth, errors, limits, records."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from connectors.base import PageRequest
from connectors.errors import ProviderError
from connectors.registry import build
from connectors.salesforce import api_usage
from sandbox import SandboxServer
from sandbox.salesforce_app import create_app
from sandbox.salesforce_state import SalesforceSandbox
from starter.connections import InvalidConnection, validate
from tests.support.tokens import refresh


@pytest.fixture
def org() -> Iterator[tuple[SalesforceSandbox, str]]:
    sandbox = SalesforceSandbox(contacts=5, accounts=0, opportunities=0,
                                rotate_refresh_tokens=True, daily_limit=3)
    with SandboxServer(sandbox, app=create_app(sandbox)) as server:
        yield sandbox, server.url


def _connector(url: str, sandbox: SalesforceSandbox, **settings: Any) -> Any:
    config = {"base_url": url, "token_url": f"{url}/services/oauth2/token",
              "client_id": sandbox.client_id, "session_timeout_s": 900, **settings}
    return build("salesforce", config)[0]


FULL = PageRequest("contacts", "full_refresh", None, 4_102_444_800_000, None)


async def test_refresh_rotates_and_the_old_token_stops_working(org: Any) -> None:
    sandbox, url = org
    connector = _connector(url, sandbox)
    first = sandbox.refresh_token
    grant = await refresh(connector, sandbox.client_secret, first)
    assert grant.refresh_token != first and grant.expires_in_s == 900  # the session timeout
    with pytest.raises(ProviderError) as info:
        await refresh(connector, sandbox.client_secret, first)
    assert info.value.category == "auth_failure" and "invalid_grant" in info.value.message


async def test_page_drops_attributes_and_reads_the_daily_usage(org: Any) -> None:
    sandbox, url = org
    connector = _connector(url, sandbox)
    token = (await refresh(connector, sandbox.client_secret, sandbox.refresh_token)).access_token
    async with httpx.AsyncClient() as client:
        page = await connector.fetch_page(client, token, FULL)
        assert len(page.records) == 5 and "attributes" not in page.records[0]
        assert page.api_usage == {"used": 1, "limit": 3} and page.rate_remaining == 2
        await connector.fetch_page(client, token, FULL)
        await connector.fetch_page(client, token, FULL)
        with pytest.raises(ProviderError) as info:
            await connector.fetch_page(client, token, FULL)
    error = info.value
    assert (error.category, error.status) == ("rate_limited", 403)
    assert "REQUEST_LIMIT_EXCEEDED" in error.message and error.retry_after == 900


@pytest.mark.parametrize(("header", "usage"), [
    ("api-usage=18/15000", {"used": 18, "limit": 15000}),
    (f"api-usage=18/{'9' * 16}", None),  # no allowance Salesforce means, and too long for a
    (f"api-usage={'9' * 400}/15000", None),  # float in the headroom's arithmetic
])
def test_daily_usage_is_read_only_from_plain_counts(header: str, usage: Any) -> None:
    assert api_usage(httpx.Headers({"Sforce-Limit-Info": header})) == usage


@pytest.mark.parametrize(
    ("fault", "category"),
    [({"kind": "server_error", "status": 503}, "server_error"),
     ({"kind": "error_200"}, "server_error"),
     ({"kind": "malformed_json"}, "server_error"),
     ({"kind": "rate_limit", "retry_after": 7}, "rate_limited")],
)
async def test_faults_map_to_the_envelope(org: Any, fault: dict[str, Any], category: str) -> None:
    sandbox, url = org
    connector = _connector(url, sandbox)
    token = (await refresh(connector, sandbox.client_secret, sandbox.refresh_token)).access_token
    sandbox.inject(**fault)
    async with httpx.AsyncClient() as client:
        with pytest.raises(ProviderError) as info:
            await connector.fetch_page(client, token, FULL)
    assert info.value.category == category
    if "retry_after" in fault:
        assert info.value.retry_after == 7


async def test_expired_session_is_an_auth_failure(org: Any) -> None:
    sandbox, url = org
    connector = _connector(url, sandbox)
    token = (await refresh(connector, sandbox.client_secret, sandbox.refresh_token)).access_token
    sandbox.expire_sessions()
    async with httpx.AsyncClient() as client:
        with pytest.raises(ProviderError) as info:
            await connector.fetch_page(client, token, FULL)
    assert (info.value.category, info.value.status) == ("auth_failure", 401)
    assert "INVALID_SESSION_ID" in info.value.message


async def test_jwt_with_a_key_the_org_does_not_know_is_refused(org: Any) -> None:
    sandbox, url = org
    stranger = SalesforceSandbox(contacts=0, accounts=0, opportunities=0).private_key_pem
    connector = _connector(url, sandbox, credential_type="jwt_bearer", username=sandbox.username)
    assert (await refresh(connector, sandbox.private_key_pem, "")).access_token
    with pytest.raises(ProviderError) as info:
        await refresh(connector, stranger, "")
    assert info.value.category == "auth_failure"


@pytest.mark.parametrize(
    ("settings", "message"),
    [({"mappings": {"contacts": {"entity": "contacts", "id": "Id", "updated_at": "SystemModstamp",
                                 "fields": {"email": {"source": "Email) FROM User --",
                                                      "required": True}}}}},
      "not SOQL field names"),
     ({"mappings": {"leads": {}}}, "no stream 'leads'"),
     ({"credential_type": "jwt_bearer"}, "needs `username`"),
     ({"api_version": "62"}, "api_version")],
)
def test_bad_settings_are_refused_when_the_connection_is_added(
    settings: dict[str, Any], message: str
) -> None:
    with pytest.raises(InvalidConnection) as info:
        validate("salesforce", {"base_url": "https://x.my.salesforce.com", "client_id": "c",
                                **settings})
    assert message in str(info.value)


def test_settings_errors_name_the_key() -> None:
    with pytest.raises(ValidationError) as info:
        build("salesforce", {"base_url": "https://x", "client_id": "c", "batch_size": 50})
    assert info.value.errors()[0]["loc"] == ("batch_size",)
