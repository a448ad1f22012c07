"""`connection add` asks the HubSpot portal (the sandbox over HTTP) whether the mappings read
properties it has: a missing one is refused in one line, exit 2, naming the closest names."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from connectors.hubspot_api import Paths
from connectors.mapping import default_mapping
from sandbox import HubSpotSandbox, SandboxServer
from store.db import engine
from store.schema import connections, provider_properties
from tests.support.cli import cli
from tests.support.network import closed_port

PROPERTIES = Paths().properties("contacts")  # the default api_version's


@pytest.fixture
def portal() -> Iterator[tuple[HubSpotSandbox, SandboxServer]]:
    sandbox = HubSpotSandbox(contacts=5)
    with SandboxServer(sandbox) as server:
        yield sandbox, server


def _add(name: str, sandbox: HubSpotSandbox, url: str, tmp_path: Path,
         **fields: dict[str, Any]) -> Any:
    mapping = default_mapping("hubspot", "contacts").model_dump(exclude_none=True)
    mapping["fields"].update(fields)
    config = tmp_path / f"{name}.json"
    config.write_text(json.dumps({"mappings": {"contacts": mapping}}))
    return cli("connection", "add", name, "--provider", "hubspot", "--tenant", "acme",
               "--client-id", sandbox.client_id, "--base-url", url,
               "--token-url", f"{url}/oauth/v1/token", "--config", str(config),
               env={"TRIBUTARY_CLIENT_SECRET": sandbox.client_secret,
                    "TRIBUTARY_REFRESH_TOKEN": sandbox.refresh_token})


def _stored(name: str) -> tuple[bool, Any]:
    with engine().connect() as conn:
        added = conn.execute(select(connections.c.name).where(
            connections.c.name == name)).scalar() is not None
        cached = conn.execute(select(provider_properties.c.names).where(
            provider_properties.c.connection == name,
            provider_properties.c.stream == "contacts")).scalar()
    return added, cached


def test_a_mapping_reading_a_property_the_portal_lacks_is_refused(
    database_url: str, portal: tuple[HubSpotSandbox, SandboxServer], tmp_path: Path
) -> None:
    sandbox, server = portal
    result = _add("typo", sandbox, server.url, tmp_path,
                  first_name={"source": "properties.firstnme"})
    assert result.exit_code == 2, result.output
    [line] = result.output.strip().splitlines()
    assert "'firstnme' (closest: firstname" in line, line
    assert "Traceback" not in result.output
    assert _stored("typo") == (False, None)  # nothing stored
    assert sum(path == PROPERTIES for _, path in server.requests) == 1


def test_a_mapping_the_portal_satisfies_is_added_with_the_list_cached(
    database_url: str, portal: tuple[HubSpotSandbox, SandboxServer], tmp_path: Path
) -> None:
    sandbox, server = portal
    result = _add("fine", sandbox, server.url, tmp_path)
    assert result.exit_code == 0, result.output
    assert "warning" not in result.output
    added, cached = _stored("fine")
    assert added and "firstname" in cached and "email" in cached


def test_an_unreachable_portal_adds_the_connection_with_a_warning(
    database_url: str, portal: tuple[HubSpotSandbox, SandboxServer], tmp_path: Path
) -> None:
    sandbox, _ = portal
    result = _add("offline", sandbox, f"http://{closed_port()}", tmp_path,
                  first_name={"source": "properties.firstnme"})
    assert result.exit_code == 0, result.output
    assert "properties were not checked (server_error" in result.output
    assert _stored("offline") == (True, None)
