"""Starting, signalling and inspecting StreamSync workflows, with operator-friendly failures."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio.client import Client, WorkflowHandle
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from connectors.registry import streams
from infra.times import now_ms
from starter.errors import USAGE, CliError
from starter.temporal_client import connect_or_fail
from store import connections
from store.db import engine
from workflows.inputs import parse_input
from workflows.names import CONNECTION, TENANT, WORKFLOW_QUEUE, WORKFLOW_TYPE, workflow_id

QUERY_TIMEOUT = timedelta(seconds=5)


def check_stream(connection: str, stream: str) -> None:
    """Refuse an unknown connection or stream here rather than inside a started workflow."""
    with engine().connect() as conn:
        row = connections.get(conn, connection)
    known = streams(row.provider, row.config)
    if stream not in known:
        raise CliError(f"connection {connection!r} ({row.provider}) has no stream {stream!r}; "
                       f"valid: {', '.join(known)}", USAGE)


def sync_input(
    connection: str, stream: str, every: str | None, full_refresh: bool
) -> dict[str, Any]:
    params: dict[str, Any] = {"connection": connection, "stream": stream}
    if every:
        params["every"] = every
    if full_refresh:
        params["full_refresh"] = True
    try:
        parse_input(params, now_ms())
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
    await _refuse_scheduled(client, connection, stream)
    try:
        return await client.start_workflow(
            WORKFLOW_TYPE, params, id=wid, task_queue=WORKFLOW_QUEUE)
    except WorkflowAlreadyStartedError:
        raise CliError(f"a sync of {connection}/{stream} is already running (workflow {wid}); "
                       "signal it (`sync now`, `sync pause`) instead") from None


async def _refuse_scheduled(client: Client, connection: str, stream: str) -> None:
    """A stream is either every-driven or schedule-driven, never both at once."""
    sid = workflow_id(connection, stream)  # a stream's schedule shares its workflow id
    try:
        await client.get_schedule_handle(sid).describe()
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return
        raise
    raise CliError(f"{connection}/{stream} runs on schedule {sid}: use `schedule trigger` to run "
                   "it now, or `schedule delete` first to sync it with `every`", USAGE)


def _not_running(connection: str, stream: str) -> CliError:
    return CliError(
        f"no running sync of {connection}/{stream} (workflow {workflow_id(connection, stream)}); "
        f"start one with `python -m starter sync start {connection} {stream}` (a schedule-driven "
        "stream's runs are steered with `python -m starter schedule ...`)"
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


def _literal(value: str) -> str:
    """A visibility-query string literal; names with quotes cannot be matched safely."""
    if "'" in value or "\\" in value:
        raise CliError(f"{value!r} contains a quote or backslash; signal its streams one by one",
                       USAGE)
    return f"'{value}'"


def running_query(connection: str | None = None, tenant: str | None = None) -> str:
    """Running syncs of a connection or a tenant, by the search attributes every sync carries."""
    key, value = (CONNECTION, connection) if connection is not None else (TENANT, tenant)
    assert value is not None
    return (f"WorkflowType = '{WORKFLOW_TYPE}' AND ExecutionStatus = 'Running' "
            f"AND {key.name} = {_literal(value)}")


def check_tenant(tenant: str) -> None:
    with engine().connect() as conn:
        known = {row.tenant for row in connections.all_(conn)}
    if tenant not in known:
        raise CliError(f"no connection belongs to tenant {tenant!r}; known tenants: "
                       f"{', '.join(sorted(known)) or '(none)'}", USAGE)


async def signal_many(
    name: str, arg: Any = None, *, connection: str | None = None, tenant: str | None = None,
    client: Client | None = None,
) -> list[str]:
    """Signal every running sync of a connection or of a tenant; the ids signalled."""
    if connection is not None:
        with engine().connect() as conn:
            connections.get(conn, connection)
    else:
        check_tenant(tenant or "")
    query = running_query(connection, tenant)
    client = client or await connect_or_fail()
    signalled = []
    async for execution in client.list_workflows(query):
        handle = client.get_workflow_handle(execution.id)
        try:
            await (handle.signal(name) if arg is None else handle.signal(name, arg))
        except RPCError as exc:
            if exc.status != RPCStatusCode.NOT_FOUND:
                raise
            continue  # finished since it was listed: nothing to steer
        signalled.append(execution.id)
    return signalled


async def status(connection: str, stream: str, client: Client | None = None) -> dict[str, Any]:
    client = client or await connect_or_fail()
    handle = client.get_workflow_handle(workflow_id(connection, stream))
    try:
        result: dict[str, Any] = await handle.query("status", rpc_timeout=QUERY_TIMEOUT)
        return result
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            raise _not_running(connection, stream) from None
        if exc.status == RPCStatusCode.DEADLINE_EXCEEDED:
            raise CliError(f"no worker answered the status query within "
                           f"{QUERY_TIMEOUT.seconds}s: is `python worker.py` running?") from None
        raise
