"""Inputs that must never wedge a sync: signals and starts with no input, two inputs or a bad
value, sent with the real `temporal` CLI, and the starter CLI's `every` and backfill windows.

A workflow task that raises is retried forever and the sync stands still (its status query
fails too); every case here either fails the workflow with `invalid_input` or is ignored and
reported in `last_signal_error`, and the syncs go on answering good signals.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from typing import Any

import pytest
from sqlalchemy import update
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowFailureError, WorkflowHandle
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment

from store.db import engine
from store.schema import connections
from tests.support.polling import until
from tests.support.processes import ROOT, temporal_cli
from tests.support.stacks import Stack, wait_for_status
from workflows.names import WORKFLOW_QUEUE, WORKFLOW_TYPE

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


async def _temporal(address: str, *args: str) -> None:
    done = await asyncio.to_thread(
        subprocess.run, [temporal_cli(), *args, "--address", address],
        capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


async def _task_failures(handle: WorkflowHandle[Any, Any]) -> int:
    history = await handle.fetch_history()
    return sum(e.HasField("workflow_task_failed_event_attributes") for e in history.events)


def _sleeping(status: dict[str, Any]) -> bool:
    return bool(status["state"] == "sleeping")


# (to one sync, or to the tenant's by --query; the signal's flags; what the status then says)
BAD_SIGNALS = [
    ("one", ["--name", "backfill"], "signal ignored: backfill takes one input, a JSON object "
     'like {"since": "2025-01-01T00:00:00Z", "until": "2025-02-01"}; got 0 inputs'),
    ("one", ["--name", "backfill", "--input", '{"since": "2025-01-01"}',
             "--input", '{"since": "2025-02-01"}'], "backfill takes one input"),
    ("tenant", ["--name", "backfill"], "got 0 inputs"),
    ("tenant", ["--name", "backfill", "--input", '{"since": "2025-01-01"}', "--input", "1"],
     "got 2 inputs"),
    ("tenant", ["--name", "pause", "--input", "{}"], "signal ignored: pause takes no input; got 1"),
    ("tenant", ["--name", "resume", "--input", "null"], "resume takes no input; got 1"),
    ("tenant", ["--name", "sync_now", "--input", "1", "--input", "2"], "sync_now takes no input"),
    ("tenant", ["--name", "backfill", "--input", '{"since": 5}'],
     "since: must be an ISO date or date-time"),
    ("tenant", ["--name", "backfill", "--input", '{"since": "2999-01-01"}'],
     "since is in the future"),
    ("one", ["--name", "backfill", "--input", '{"since": "2025-02-01", "until": "2025-01-01"}'],
     "until must be after since"),
]


async def test_bad_signals_to_one_sync_or_a_whole_tenant_are_ignored_and_reported(
    temporal: WorkflowEnvironment, make_stack: Any
) -> None:
    first, second = make_stack(contacts=20, seed=141), make_stack(contacts=20, seed=142)
    tenant = f"tenant-{first.connection}"  # this test's own: other tests' syncs stay out
    with engine().begin() as conn:
        conn.execute(update(connections).values(tenant=tenant)
                     .where(connections.c.name.in_([first.connection, second.connection])))
    handles = [await stack.start(every="1h") for stack in (first, second)]
    for handle in handles:
        await wait_for_status(handle, _sleeping)
    client: Client = temporal.client
    address = client.service_client.config.target_host
    query = f"TributaryTenant='{tenant}'"

    async def both_listed() -> bool:
        found = {e.id async for e in client.list_workflows(
            f"{query} AND ExecutionStatus='Running'")}
        return found == {first.workflow_id, second.workflow_id}

    await until(both_listed, 20, "the tenant's syncs in visibility", interval=0.1)

    for target, flags, expected in BAD_SIGNALS:
        where = (["--workflow-id", first.workflow_id] if target == "one"
                 else ["--query", query, "--yes"])
        await _temporal(address, "workflow", "signal", *where, *flags)
        for handle in handles if target == "tenant" else handles[:1]:
            status = await wait_for_status(
                handle, lambda s, e=expected: e in (s["last_signal_error"] or ""))
            assert status["state"] == "sleeping" and status["paused"] is False
            assert status["pending_backfills"] == 0

    for handle in handles:
        assert (await handle.describe()).status == WorkflowExecutionStatus.RUNNING
        assert await _task_failures(handle) == 0

    # Good signals, by the same batch route, still steer every sync of the tenant.
    await _temporal(address, "workflow", "signal", "--query", query, "--yes", "--name", "pause")
    for handle in handles:
        await wait_for_status(handle, lambda s: s["paused"] is True)
    await _temporal(address, "workflow", "signal", "--query", query, "--yes", "--name", "resume")
    for handle in handles:
        await wait_for_status(handle, lambda s: s["paused"] is False)
    await _temporal(address, "workflow", "signal", "--query", query, "--yes", "--name",
                    "backfill", "--input", '{"since": "2000-01-01T00:00:00Z"}')
    for handle in handles:
        await wait_for_status(handle, lambda s: _sleeping(s)
                              and (s["last_window"] or {}).get("kind") == "backfill")
    for stack in (first, second):
        stack.assert_destination_equals_sandbox()


# The flags of `temporal workflow start` after --type/--task-queue/--workflow-id; the message.
BAD_STARTS = {
    "no input": ([], "StreamSync takes one input, a JSON object like"),
    "two inputs": (["--input", '{"connection": "{conn}", "stream": "contacts"}',
                    "--input", '{"connection": "{conn}", "stream": "contacts"}'],
                   "got 2 inputs"),
    "every unbounded": (["--input", '{"connection": "{conn}", "stream": "contacts", '
                                    '"every": "99999999999d"}'],
                        "every: every must be between 30s and 366d"),
    "every too short": (["--input", '{"connection": "{conn}", "stream": "contacts", '
                                    '"every": "5s"}'], "every must be between 30s and 366d"),
    "backfill a number": (["--input", '{"connection": "{conn}", "stream": "contacts", '
                                      '"backfills": [{"since": 5}]}'],
                          "backfills.0.since: must be an ISO date"),
    "backfill in the future": (["--input", '{"connection": "{conn}", "stream": "contacts", '
                                           '"backfills": [{"since": "2999-01-01"}]}'],
                               "backfills.0: since is in the future"),
}


@pytest.mark.parametrize("case", BAD_STARTS, ids=list(BAD_STARTS))
async def test_a_bad_start_from_the_temporal_cli_fails_the_workflow_not_its_task(
    temporal: WorkflowEnvironment, make_stack: Any, case: str
) -> None:
    stack: Stack = make_stack(contacts=1)
    flags, expected = BAD_STARTS[case]
    flags = [flag.replace("{conn}", stack.connection) for flag in flags]
    client: Client = temporal.client
    await _temporal(client.service_client.config.target_host, "workflow", "start",
                    "--type", WORKFLOW_TYPE, "--task-queue", WORKFLOW_QUEUE,
                    "--workflow-id", stack.workflow_id, *flags)
    handle = client.get_workflow_handle(stack.workflow_id)
    with pytest.raises(WorkflowFailureError) as info:
        await asyncio.wait_for(handle.result(), timeout=30)
    cause = info.value.cause
    assert isinstance(cause, ApplicationError), cause
    assert cause.type == "invalid_input" and cause.non_retryable
    assert expected in cause.message
    assert await _task_failures(handle) == 0


# The starter CLI refuses these itself: one line, exit code 2, nothing started or signalled.
BAD_COMMANDS = {
    "sync start every unbounded": (["sync", "start", "{conn}", "contacts", "--every",
                                    "99999999999d"], "every must be between 30s and 366d"),
    "sync start every too short": (["sync", "start", "{conn}", "contacts", "--every", "10s"],
                                   "every must be between 30s and 366d"),
    "schedule create every unbounded": (["schedule", "create", "{conn}", "contacts", "--every",
                                         "99999999999d"], "every must be between 30s and 366d"),
    "schedule create every too short": (["schedule", "create", "{conn}", "contacts", "--every",
                                         "29s"], "every must be between 30s and 366d"),
    "sync backfill a number": (["sync", "backfill", "{conn}", "contacts", "--since", "5"],
                               "since: must be an ISO date or date-time"),
    "sync backfill a tenant, epoch seconds": (["sync", "backfill", "--tenant", "acme", "--since",
                                               "1700000000"], "since: must be an ISO date"),
    "sync backfill in the future": (["sync", "backfill", "{conn}", "contacts", "--since",
                                     "2999-01-01"], "since is in the future (now is "),
    "schedule backfill numbers": (["schedule", "backfill", "{conn}", "contacts", "--since", "5",
                                   "--until", "6"], "since: must be an ISO date"),
    "schedule backfill in the future": (["schedule", "backfill", "{conn}", "contacts", "--since",
                                         "2999-01-01", "--until", "3000-01-01"],
                                        "since is in the future"),
}


@pytest.mark.parametrize("case", BAD_COMMANDS, ids=list(BAD_COMMANDS))
async def test_a_bad_every_or_backfill_window_on_the_starter_cli_is_one_line_and_exit_2(
    temporal: WorkflowEnvironment, make_stack: Any, case: str
) -> None:
    stack: Stack = make_stack(contacts=1)
    args, expected = BAD_COMMANDS[case]
    client: Client = temporal.client
    env = {**os.environ, "TEMPORAL_ADDRESS": client.service_client.config.target_host}
    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "starter", *(a.replace("{conn}", stack.connection) for a in args)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    assert done.stdout == ""
    [line] = done.stderr.splitlines()
    assert line.startswith("error: ") and expected in line, line
    with pytest.raises(RPCError) as info:  # nothing started, nothing scheduled
        await client.get_workflow_handle(stack.workflow_id).describe()
    assert info.value.status == RPCStatusCode.NOT_FOUND
    with pytest.raises(RPCError):
        await client.get_schedule_handle(stack.workflow_id).describe()


async def test_a_backfill_signalled_while_a_one_cycle_sync_runs_runs_before_it_completes(
    make_stack: Any
) -> None:
    """A one-cycle sync (`sync start` without --every, a schedule's run) takes a backfill too:
    `sync backfill --tenant` reaches every running sync, these included."""
    stack: Stack = make_stack({"list_page_size": 10}, contacts=300, seed=143)
    handle = await stack.start()
    await wait_for_status(handle, lambda s: (s["window"] or {}).get("pages", 0) >= 2)
    await handle.signal("backfill", {"since": "2000-01-01T00:00:00Z"})
    summary = await asyncio.wait_for(handle.result(), timeout=120)
    status = await handle.query("status")
    assert status["state"] == "completed" and status["pending_backfills"] == 0
    assert status["last_window"]["kind"] == "backfill"
    assert summary["pages"] == status["this_run"]["pages"] > 30  # the cycle's 30, the backfill's
    assert await _task_failures(handle) == 0
    stack.assert_destination_equals_sandbox()
