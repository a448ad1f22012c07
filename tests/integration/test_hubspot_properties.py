"""Properties and schema drift: a property archived upstream parks the stream (never nulls), a
new one is a schema change in `status --json`, and quiet cycles within the hour ask nothing."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment
from typer.testing import CliRunner

from connectors.mapping import default_mapping
from starter import connections as connection_service
from starter.cli import app
from tests.support.stacks import Stack, wait_for_status


def _control(stack: Stack, action: str, **body: Any) -> None:
    """The sandbox's control API, over HTTP as another process would drive it."""
    reply = httpx.post(f"{stack.url}/_sandbox/properties/contacts/{action}", json=body)
    assert reply.status_code == 200, reply.text


def _object_requests(stack: Stack) -> int:
    return sum("/objects/" in path for _, path in stack.server.requests)


async def _status_row(temporal: WorkflowEnvironment, stack: Stack) -> dict[str, Any]:
    env = {"TEMPORAL_ADDRESS": temporal.client.service_client.config.target_host}
    result = await asyncio.to_thread(CliRunner().invoke, app, ["status", "--json"], env=env)
    assert result.exit_code == 0, result.output
    [row] = [r for r in json.loads(result.stdout)
             if (r["connection"], r["stream"]) == (stack.connection, "contacts")]
    return dict(row)


def _changes(row: dict[str, Any]) -> list[tuple[str, str]]:
    return [(c["property"], c["change"]) for c in row["schema_changes"]]


async def test_a_property_archived_upstream_parks_the_stream_with_the_reason(
    temporal: WorkflowEnvironment, make_stack: Any
) -> None:
    mapping = default_mapping("hubspot", "contacts").model_dump(exclude_none=True)
    mapping["fields"]["lifecycle_stage"] = {"source": "properties.customer_tier"}
    stack = make_stack({"properties_every_s": 0, "mappings": {"contacts": mapping}},
                       contacts=40, seed=71)
    _control(stack, "create", name="customer_tier", label="Customer tier")
    await stack.sync()
    assert len(stack.destination()) == 40

    _control(stack, "archive", name="customer_tier")
    stack.sandbox.modify_contacts(n=5)
    fetched_before = _object_requests(stack)
    handle = await stack.start()
    status = await wait_for_status(
        handle, lambda s: "customer_tier" in (s.get("blocked") or ""))
    assert "the contacts mapping reads property 'customer_tier'" in status["blocked"]
    assert "resume" in status["blocked"]
    assert _object_requests(stack) == fetched_before  # parked before any page: no nulls synced
    assert "customer_tier" in (stack.state().last_error or "")
    row = await _status_row(temporal, stack)
    assert row["health"] == "red"
    assert _changes(row) == [("customer_tier", "archived")]

    # Restored upstream: `resume` checks again and the cycle goes on.
    _control(stack, "create", name="customer_tier")
    await handle.signal("resume")
    await asyncio.wait_for(handle.result(), timeout=120)
    assert _object_requests(stack) > fetched_before
    assert _changes(await _status_row(temporal, stack))[0] == ("customer_tier", "created")


async def test_quiet_cycles_ask_once_an_hour_and_a_new_property_is_a_schema_change(
    temporal: WorkflowEnvironment, make_stack: Any, caplog: pytest.LogCaptureFixture
) -> None:
    # One slice per window, so each cycle checks once (every slice's first fetch checks).
    stack = make_stack({"parallel_fetches": 1}, contacts=30, seed=72)
    for _ in range(3):
        await stack.sync()
    # One properties request for three cycles: the list is trusted for an hour.
    assert len(stack.provider_requests(stack.hubspot_paths.properties("contacts"))) == 1
    _control(stack, "create", name="favorite_color")
    await stack.sync()
    assert len(stack.provider_requests(stack.hubspot_paths.properties("contacts"))) == 1
    assert _changes(await _status_row(temporal, stack)) == []

    # The hour is over (the connection now trusts its list for no time at all).
    connection_service.update(stack.connection, {"properties_every_s": 0}, None)
    await stack.sync()
    assert len(stack.provider_requests(stack.hubspot_paths.properties("contacts"))) == 2
    row = await _status_row(temporal, stack)
    assert _changes(row) == [("favorite_color", "created")]
    assert row["schema_changes"][0]["seen_at"] is not None
    assert row["health"] == "green"
    await stack.sync()  # asked again: nothing new, so nothing logged or recorded again
    logged = [r.getMessage() for r in caplog.records if "schema change" in r.getMessage()]
    assert logged == ["schema change: contacts property 'favorite_color' created upstream"]
    assert len(stack.provider_requests(stack.hubspot_paths.properties("contacts"))) == 3
    assert _changes(await _status_row(temporal, stack)) == [("favorite_color", "created")]
    stack.assert_destination_equals_sandbox()
