"""Credentials are encrypted at rest and refreshed once however many syncs ask at once."""

from __future__ import annotations

import asyncio
import os
from typing import Any

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import select
from temporalio.testing import ActivityEnvironment

from activities.models import TokenRequest
from activities.token import refresh_token
from sandbox import HubSpotSandbox, SandboxServer
from starter import connections
from store import vault
from store.db import engine
from store.schema import credentials


@pytest.fixture
def hubspot(database_url: str) -> Any:
    sandbox = HubSpotSandbox(contacts=1)
    with SandboxServer(sandbox) as server:
        connections.add("vaulted", "hubspot", "t", {
            "base_url": server.url, "token_url": f"{server.url}/oauth/v1/token",
            "client_id": sandbox.client_id,
        }, vault.Secrets(sandbox.client_secret, sandbox.refresh_token))
        yield sandbox


def test_secrets_are_encrypted_at_rest(hubspot: HubSpotSandbox) -> None:
    with engine().connect() as conn:
        stored = conn.execute(select(credentials.c.ciphertext)).scalar_one()
        assert hubspot.refresh_token.encode() not in stored
        assert hubspot.client_secret.encode() not in stored
        assert vault.load(conn, "vaulted").secrets.refresh_token == hubspot.refresh_token
        assert "***" in repr(vault.load(conn, "vaulted").secrets)


def test_wrong_key_is_a_clear_error(hubspot: HubSpotSandbox,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRIBUTARY_VAULT_KEY", Fernet.generate_key().decode())
    with engine().connect() as conn, pytest.raises(vault.VaultError, match="does not decrypt"):
        vault.load(conn, "vaulted")
    monkeypatch.setenv("TRIBUTARY_VAULT_KEY", "short")
    with engine().connect() as conn, pytest.raises(vault.VaultError, match="not a Fernet key"):
        vault.load(conn, "vaulted")
    assert os.environ["TRIBUTARY_VAULT_KEY"] == "short"


async def test_concurrent_refreshes_call_the_provider_once(hubspot: HubSpotSandbox) -> None:
    env = ActivityEnvironment()
    results = await asyncio.gather(*(
        env.run(refresh_token, TokenRequest("vaulted", "contacts")) for _ in range(8)
    ))
    assert hubspot.stats["token_refreshes_ok"] == 1
    assert sum(r.refreshed for r in results) == 1
    assert len({r.version for r in results}) == 1
    # After a 401 on version v, one forced refresh; a second caller with the same stale
    # version finds the newer token and does not refresh again.
    stale = results[0].version
    forced = await asyncio.gather(*(
        env.run(refresh_token, TokenRequest("vaulted", "contacts", stale_version=stale))
        for _ in range(4)
    ))
    assert hubspot.stats["token_refreshes_ok"] == 2
    assert sum(r.refreshed for r in forced) == 1
