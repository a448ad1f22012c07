"""Starting, signalling and inspecting StreamSync workflows, with operator-friendly failures."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio.client import Client, WorkflowHandle
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from connectors.registry import STREAMS
from starter.errors import USAGE, CliError
from starter.temporal_client import connect_or_fail
from store import connections
from store.db import engine
from workflows.inputs import parse_input
from workflows.names import CONNECTION, WORKFLOW_QUEUE, WORKFLOW_TYPE, workflow_id

QUERY_TIMEOUT = timedelta(seconds=5)
SIGNALS = {"pause": "pause", "resume": "resume", "now": "sync_now", "backfill": "backfill"}


def check_stream(connection: str, stream: str) -> None:
    """Refuse an unknown connection or stream here rather than inside a started workflow."""
    with engine().connect() as conn:
        row = connections.get(conn, connection)
    streams = STREAMS.get(row.provider, ())
    if stream not in streams:
        raise CliError(f"connection {connection!r} ({row.provider}) has no stream {stream!r}; "
                       f"valid: {', '.join(streams)}", USAGE)


def sync_input(
    connection: str, stream: str, every: str | None, full_refresh: bool
) -> dict[str, Any]:
    params: dict[str, Any] = {"connection": connection, "stream": stream}
    if every:
        params["every"] = every
    if full_refresh:
        params["full_refresh"] = True
    try:
        parse_input(params)
    except ValueError as exc:
        raise CliError(str(exc), USAGE) from None
    return params


async def start(
    connection: str, stream: str, every: str | None = None, full_refresh: bool = False,
    client: Client | None = None,
) -> WorkflowHandle[Any, Any]:
    params = sync_input(connection, stream, every, full_refresh)
    check_stream(connection, stream)
    client = client or await connect_or_fail()
    wid = workflow_id(connection, stream)
    try:
        return await client.start_workflow(
            WORKFLOW_TYPE, params, id=wid, task_queue=WORKFLOW_QUEUE)
    except WorkflowAlreadyStartedError:
        raise CliError(f"a sync of {connection}/{stream} is already running (workflow {wid}); "
                       "signal it (`sync now`, `sync pause`) instead") from None


def _not_running(connection: str, stream: str) -> CliError:
    return CliError(
        f"no running sync of {connection}/{stream} (workflow {workflow_id(connection, stream)}); "
        f"start one with `python -m starter sync start {connection} {stream}`"
    )


async def signal(
    connection: str, stream: str, name: str, arg: Any = None, client: Client | None = None
) -> None:
    check_stream(connection, stream)
    client = client or await connect_or_fail()
    handle = client.get_workflow_handle(workflow_id(connection, stream))
    try:
        if arg is None:
            await handle.signal(name)
        else:
            await handle.signal(name, arg)
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            raise _not_running(connection, stream) from None
        raise


async def signal_connection(
    connection: str, name: str, arg: Any = None, client: Client | None = None
) -> list[str]:
    """Signal every running sync of a connection (found by search attribute); their ids."""
    with engine().connect() as conn:
        connections.get(conn, connection)
    client = client or await connect_or_fail()
    query = f"{CONNECTION.name} = '{connection}' AND ExecutionStatus = 'Running'"
    ids = [execution.id async for execution in client.list_workflows(query)]
    for wid in ids:
        handle = client.get_workflow_handle(wid)
        await (handle.signal(name) if arg is None else handle.signal(name, arg))
    return ids


async def status(connection: str, stream: str, client: Client | None = None) -> dict[str, Any]:
    client = client or await connect_or_fail()
    handle = client.get_workflow_handle(workflow_id(connection, stream))
    try:
        return await handle.query("status", rpc_timeout=QUERY_TIMEOUT)
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            raise _not_running(connection, stream) from None
        if exc.status == RPCStatusCode.DEADLINE_EXCEEDED:
            raise CliError(f"no worker answered the status query within "
                           f"{QUERY_TIMEOUT.seconds}s: is `python worker.py` running?") from None
        raise
