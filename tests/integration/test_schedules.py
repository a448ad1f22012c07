"""Schedule-driven streams: runs never overlap, a backfill re-syncs a range, watermark in place."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import pytest
from sqlalchemy import delete, func, select
from temporalio.client import Client, ScheduleOverlapPolicy
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment
from typer.testing import CliRunner

from starter import schedules
from starter.cli import app
from store.db import engine
from store.schema import contacts, sync_runs
from tests.support.polling import until

runner = CliRunner()


async def _cli(env: dict[str, str], *args: str) -> Any:
    return await asyncio.to_thread(runner.invoke, app, list(args), env=env)


async def _first_run(client: Client, sid: str, timeout: float = 30) -> str:
    """The workflow id of the schedule's first action, once it has started."""
    handle = client.get_schedule_handle(sid)

    async def recent_actions() -> Any:
        return (await handle.describe()).info.recent_actions

    recent = await until(recent_actions, timeout, f"schedule {sid} to start a run", interval=0.1)
    return recent[0].action.workflow_id  # type: ignore[attr-defined]  # a start-workflow action


def _cycles(connection: str) -> int:
    with engine().connect() as conn:
        return int(conn.execute(select(func.count()).select_from(sync_runs).where(
            sync_runs.c.connection == connection, sync_runs.c.kind != "backfill")).scalar_one())


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_schedule_runs_backfills_and_excludes_every(
    temporal: WorkflowEnvironment, make_stack: Any
) -> None:
    stack = make_stack(contacts=300, seed=95)
    client = temporal.client
    env = {"TEMPORAL_ADDRESS": client.service_client.config.target_host}
    name, sid = stack.connection, stack.workflow_id
    created = await _cli(env, "schedule", "create", name, "contacts", "--every", "1h")
    assert created.exit_code == 0, created.output
    try:
        described = await client.get_schedule_handle(sid).describe()
        assert described.schedule.policy.overlap == ScheduleOverlapPolicy.SKIP
        refused = await _cli(env, "sync", "start", name, "contacts")
        assert refused.exit_code == 2 and f"runs on schedule {sid}" in refused.output

        assert (await _cli(env, "schedule", "trigger", name, "contacts")).exit_code == 0
        run_id = await _first_run(client, sid)
        assert run_id.startswith(f"{sid}-")  # Temporal suffixes the scheduled time
        await asyncio.wait_for(client.get_workflow_handle(run_id).result(), 120)
        stack.assert_destination_equals_sandbox()
        assert (await _cli(env, "schedule", "list")).exit_code == 0
        [listed] = [item for item in await schedules.list_(client) if item.id == sid]
        assert listed.spec == "every 1h" and not listed.paused and listed.last_run is not None

        # Lose part of the destination, then backfill that range through the schedule.
        watermark, cycles = stack.state().watermark, _cycles(name)
        rows = sorted(stack.destination().values(), key=lambda r: r["source_updated_at"])
        since, until = rows[50]["source_updated_at"], rows[150]["source_updated_at"]
        lost = {r["external_id"] for r in rows if since <= r["source_updated_at"] < until}
        with engine().begin() as conn:
            conn.execute(delete(contacts).where(contacts.c.external_id.in_(lost),
                                                contacts.c.connection == name))
        backfilled = await _cli(env, "schedule", "backfill", name, "contacts",
                                "--since", since.isoformat() + "Z",
                                "--until", until.isoformat() + "Z")
        assert backfilled.exit_code == 0, backfilled.output
        assert lost <= set(stack.destination())
        stack.assert_destination_equals_sandbox()
        assert stack.state().watermark == watermark
        assert _cycles(name) == cycles  # the backfill ran no incremental cycle
        assert not (await client.get_schedule_handle(sid).describe()).schedule.state.paused

        assert (await _cli(env, "schedule", "pause", name, "contacts")).exit_code == 0
        assert (await client.get_schedule_handle(sid).describe()).schedule.state.paused
        assert (await _cli(env, "schedule", "unpause", name, "contacts")).exit_code == 0
        assert not (await client.get_schedule_handle(sid).describe()).schedule.state.paused

        again = await _cli(env, "schedule", "create", name, "contacts", "--cron", "0 * * * *")
        assert again.exit_code == 2 and "already exists" in again.output
        assert (await _cli(env, "schedule", "delete", name, "contacts")).exit_code == 0
        gone = await _cli(env, "schedule", "trigger", name, "contacts")
        assert gone.exit_code == 2 and f"no schedule {sid}" in gone.output
    finally:
        with contextlib.suppress(RPCError):
            await client.get_schedule_handle(sid).delete()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_schedule_create_refuses_bad_timetables_and_every_driven_streams(
    temporal: WorkflowEnvironment, make_stack: Any
) -> None:
    stack = make_stack(contacts=20, seed=96)
    env = {"TEMPORAL_ADDRESS": temporal.client.service_client.config.target_host}
    name = stack.connection
    both = await _cli(env, "schedule", "create", name, "contacts", "--every", "1h",
                      "--cron", "0 * * * *")
    assert both.exit_code == 2 and "exactly one of" in both.output
    bad = await _cli(env, "schedule", "create", name, "contacts", "--every", "5x")
    assert bad.exit_code == 2 and "every must look like" in bad.output
    cron = await _cli(env, "schedule", "create", name, "contacts", "--cron", "not a cron")
    assert cron.exit_code == 2 and "Traceback" not in cron.output

    await stack.start(every="1h")
    mixed = await _cli(env, "schedule", "create", name, "contacts", "--every", "1h")
    assert mixed.exit_code == 2 and "every-driven or schedule-driven" in mixed.output
