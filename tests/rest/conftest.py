"""Declarative REST connections against the HubSpot sandbox and the people API sandbox."""

from __future__ import annotations

import copy
import itertools
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client

from connectors.rest_config import load_config
from sandbox import HubSpotSandbox, SandboxServer
from sandbox.rest_example import PeopleApi, create_app
from starter import connections as connection_service
from store import vault
from tests.salesforce.conftest import ProviderStack, worker

__all__ = ["worker", "rest_stack", "EXAMPLES"]
EXAMPLES = Path(__file__).resolve().parents[2] / "connectors" / "examples"
_names = itertools.count(1)
# Keys `people(**changes)` sets on the connection; the rest go to the people stream.
CONNECTION_LEVEL = ("auth", "error_in_body", "lookback_s", "start_date", "parallel_fetches")


@pytest.fixture
async def rest_stack(
    worker: Client, database_url: str
) -> AsyncIterator[Callable[..., ProviderStack]]:
    servers: list[SandboxServer] = []
    stacks: list[ProviderStack] = []

    def hubspot(**sandbox_args: Any) -> ProviderStack:
        sandbox = HubSpotSandbox(rate_limit=100_000, search_per_second=100_000, **sandbox_args)
        server = SandboxServer(sandbox).start()
        servers.append(server)
        config = load_config(EXAMPLES / "hubspot_like.toml")
        config["base_url"] = server.url
        config["auth"]["client_id"] = sandbox.client_id
        return _add(config, vault.Secrets(sandbox.client_secret, sandbox.refresh_token),
                    lambda stream: sandbox.records("contacts"))

    def people(api: PeopleApi, **changes: Any) -> ProviderStack:
        server = SandboxServer(api, app=create_app(api)).start()
        servers.append(server)
        config = load_config(EXAMPLES / "people_api.toml")
        config["base_url"] = server.url
        stream = config["streams"]["people"]
        for key, value in changes.items():
            (config if key in CONNECTION_LEVEL else stream)[key] = value
        return _add(config, vault.Secrets(api.api_key, ""), lambda stream: api.people())

    def _add(config: dict[str, Any], secrets: vault.Secrets,
             records: Callable[[str], list[dict[str, Any]]]) -> ProviderStack:
        name = f"acme-rest-{next(_names)}"
        connection_service.add(name, "rest", "acme", copy.deepcopy(config), secrets)
        stacks.append(ProviderStack(worker, name, records))
        return stacks[-1]

    def make(kind: str, *args: Any, **kwargs: Any) -> ProviderStack:
        return {"hubspot": hubspot, "people": people}[kind](*args, **kwargs)

    yield make
    for stack in stacks:
        await stack.stop()
    for server in servers:
        server.stop()
