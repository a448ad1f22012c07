"""What a token endpoint answers, read by the connector base: lifetimes bounded, and a rotated
refresh token kept however unusable the rest of the answer is."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from connectors.base import UnusableGrant
from connectors.errors import ProviderError
from connectors.http import token_lifetime
from connectors.hubspot import HubSpotConnector
from connectors.hubspot_api import HubSpotSettings
from sandbox import HubSpotSandbox, SandboxServer
from sandbox.hostile_tokens import DROP, TOKEN_PATH, HostileTokens, create_app
from tests.support.tokens import refresh

YEAR_S = 365 * 86400


@pytest.mark.parametrize(("expires_in", "seconds"), [
    (1, 1), (3600, 3600), ("3600", 3600), (3599.9, 3599), (YEAR_S, YEAR_S)])
def test_a_lifetime_from_one_second_to_a_year_is_taken(expires_in: Any, seconds: int) -> None:
    assert token_lifetime(expires_in) == seconds


@pytest.mark.parametrize("expires_in", [
    "soon", 10**15, 0, -1, 0.5, YEAR_S + 1, True, "nan", "inf", float("nan"), 10**400, [], {}])
def test_any_other_lifetime_is_refused(expires_in: Any) -> None:
    with pytest.raises(ValueError, match="expires_in"):
        token_lifetime(expires_in)


@pytest.fixture
def endpoint() -> Iterator[tuple[HubSpotSandbox, HostileTokens, HubSpotConnector]]:
    sandbox = HubSpotSandbox(contacts=1, rotate_refresh_tokens=True)
    tokens = HostileTokens(sandbox.exchange_refresh_token)
    with SandboxServer(tokens, app=create_app(tokens)) as server:
        connector = HubSpotConnector(HubSpotSettings(
            base_url=server.url, token_url=f"{server.url}{TOKEN_PATH}",
            client_id=sandbox.client_id), {"contacts": ["email"]})
        yield sandbox, tokens, connector


@pytest.mark.parametrize(("change", "category"), [
    ({"expires_in": "soon"}, "auth_failure"), ({"expires_in": 10**15}, "auth_failure"),
    ({"expires_in": 0}, "auth_failure"), ({"access_token": DROP}, "server_error"),
    ({"access_token": ""}, "server_error")])
async def test_a_rotated_refresh_token_comes_with_an_unusable_answer(
    endpoint: Any, change: dict[str, Any], category: str,
) -> None:
    sandbox, tokens, connector = endpoint
    sent = sandbox.refresh_token
    tokens.answer_next(**change)
    with pytest.raises(UnusableGrant) as info:
        await refresh(connector, sandbox.client_secret, sent)
    assert info.value.refresh_token == sandbox.refresh_token != sent
    assert (info.value.error.category, info.value.error.operation) == (category,
                                                                      "refresh_token")
    assert sandbox.refresh_token not in str(info.value)
    # The one kept works: the sandbox accepts nothing else.
    grant = await refresh(connector, sandbox.client_secret, info.value.refresh_token)
    assert grant.access_token and grant.expires_in_s == int(sandbox.token_ttl_s)


async def test_without_rotation_an_absurd_lifetime_is_an_auth_failure(endpoint: Any) -> None:
    sandbox, tokens, connector = endpoint
    sandbox.rotate_refresh_tokens = False
    tokens.answer_next(expires_in=10**15)
    with pytest.raises(ProviderError) as info:
        await refresh(connector, sandbox.client_secret, sandbox.refresh_token)
    assert not isinstance(info.value, UnusableGrant)
    assert info.value.category == "auth_failure"
    assert info.value.message == "unusable token response: expires_in 1e+15 s is outside 1 s " \
        "to a year"


@pytest.mark.parametrize(("change", "seconds"), [
    ({"expires_in": DROP}, 1800), ({"expires_in": None}, 1800), ({"expires_in": "90"}, 90)])
async def test_a_missing_lifetime_is_the_providers_documented_one(
    endpoint: Any, change: dict[str, Any], seconds: int,
) -> None:
    sandbox, tokens, connector = endpoint
    tokens.answer_next(**change)
    grant = await refresh(connector, sandbox.client_secret, sandbox.refresh_token)
    assert grant.expires_in_s == seconds and grant.refresh_token == sandbox.refresh_token
