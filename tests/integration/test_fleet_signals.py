"""Steering every sync of a connection or tenant by search attribute: starter and temporal CLI."""

from __future__ import annotations

import asyncio
import subprocess
from typing import Any

import pytest
from sqlalchemy import update
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from typer.testing import CliRunner

from starter.cli import app
from store.db import engine
from store.schema import connections
from tests.support.polling import until
from tests.support.processes import temporal_cli
from tests.support.stacks import wait_for_status

runner = CliRunner()


async def _cli(env: dict[str, str], *args: str) -> Any:
    return await asyncio.to_thread(runner.invoke, app, list(args), env=env)


async def _visible(client: Client, query: str, ids: set[str], timeout: float = 20) -> None:
    """Visibility is eventually consistent: wait until the query lists exactly these syncs."""
    async def lists_them() -> bool:
        return {execution.id async for execution in client.list_workflows(query)} == ids

    await until(lists_them, timeout, f"{query!r} to list exactly {ids}", interval=0.1)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_connection_and_tenant_wide_pause_and_resume(
    temporal: WorkflowEnvironment, make_stack: Any
) -> None:
    acme, other = make_stack(contacts=30, seed=81), make_stack(contacts=30, seed=82)
    with engine().begin() as conn:  # `other` belongs to another tenant
        conn.execute(update(connections).where(connections.c.name == other.connection)
                     .values(tenant="globex"))
    handles = {stack.connection: await stack.start(every="1h") for stack in (acme, other)}
    for handle in handles.values():
        await wait_for_status(handle, lambda s: s["state"] == "sleeping")
    client = temporal.client
    await _visible(client, f"TributaryConnection = '{acme.connection}'", {acme.workflow_id})
    await _visible(client, "TributaryTenant = 'globex'", {other.workflow_id})
    address = client.service_client.config.target_host

    # The documented batch form of the temporal CLI, against the real server.
    done = subprocess.run(
        [temporal_cli(), "workflow", "signal", "--address", address,
         "--query", f"TributaryConnection='{acme.connection}'", "--name", "pause", "--yes"],
        capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 0, done.stderr
    await wait_for_status(handles[acme.connection], lambda s: s["paused"] is True)
    assert (await handles[other.connection].query("status"))["paused"] is False

    env = {"TEMPORAL_ADDRESS": address}
    resumed = await _cli(env, "sync", "resume", "--tenant", "acme")
    assert resumed.exit_code == 0, resumed.output
    assert acme.workflow_id in resumed.output and other.workflow_id not in resumed.output
    await wait_for_status(handles[acme.connection], lambda s: s["paused"] is False)

    paused = await _cli(env, "sync", "pause", "--tenant", "globex")
    assert paused.exit_code == 0, paused.output
    await wait_for_status(handles[other.connection], lambda s: s["paused"] is True)
    assert (await handles[acme.connection].query("status"))["paused"] is False

    unknown = await _cli(env, "sync", "pause", "--tenant", "nobody")
    assert unknown.exit_code == 2 and "no connection belongs to tenant 'nobody'" in unknown.output
    both = await _cli(env, "sync", "pause", acme.connection, "--tenant", "acme")
    assert both.exit_code == 2 and "or --tenant" in both.output
