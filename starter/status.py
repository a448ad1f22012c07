"""Health of every (connection, stream): the database first, live workflow state when reachable."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, func, select
from temporalio.client import Client
from temporalio.service import RPCError

from connectors.registry import STREAMS
from starter.temporal_client import TemporalUnreachable, connect_or_fail
from store.db import engine, utcnow
from store.schema import connections, rejected_records, stream_state
from workflows.inputs import every_seconds
from workflows.names import WORKFLOW_TYPE, workflow_id

DEFAULT_SLA = timedelta(hours=1)  # staleness threshold when a stream's interval is unknown
CONNECT_TIMEOUT_S = 2.0
QUERY_TIMEOUT = timedelta(seconds=2)

Key = tuple[str, str]


def health(state: Any, now: datetime, interval: timedelta | None = None) -> str:
    """red: failing since its last success; yellow: never synced or stale; green otherwise."""
    last_success = state.last_success_at if state is not None else None
    last_error = state.last_error_at if state is not None else None
    if last_error is not None and (last_success is None or last_error > last_success):
        return "red"
    threshold = 2 * interval if interval is not None else DEFAULT_SLA
    if last_success is None or now - last_success > threshold:
        return "yellow"
    return "green"


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.replace(tzinfo=UTC).isoformat()


def _snapshot(conn: Connection) -> tuple[dict[Key, Any], dict[Key, int]]:
    states: dict[Key, Any] = {
        (row.connection, row.stream): row for row in conn.execute(select(stream_state))
    }
    for row in conn.execute(select(connections.c.name, connections.c.provider)):
        for stream in STREAMS.get(row.provider, ()):
            states.setdefault((row.name, stream), None)  # a connection not synced yet
    counted = conn.execute(
        select(rejected_records.c.connection, rejected_records.c.stream, func.count())
        .group_by(rejected_records.c.connection, rejected_records.c.stream)
    )
    return states, {(c, s): int(n) for c, s, n in counted}


async def live_status(client: Client, keys: list[Key]) -> dict[Key, tuple[dict, timedelta | None]]:
    """Status query result and interval of each running sync among `keys`."""
    running = {
        execution.id async for execution in client.list_workflows(
            f"WorkflowType = '{WORKFLOW_TYPE}' AND ExecutionStatus = 'Running'")
    }
    found: dict[Key, tuple[dict, timedelta | None]] = {}
    for key in keys:
        wid = workflow_id(*key)
        if wid not in running:
            continue
        try:
            result = await client.get_workflow_handle(wid).query(
                "status", rpc_timeout=QUERY_TIMEOUT)
        except RPCError as exc:  # e.g. no worker polls the workflow queue right now
            result = {"state": "unknown", "error": f"status query failed: {exc.message}"}
        every = result.get("every")
        found[key] = (result, timedelta(seconds=every_seconds(every)) if every else None)
    return found


def build_rows(
    states: dict[Key, Any], rejected: dict[Key, int],
    live: dict[Key, tuple[dict, timedelta | None]] | None, now: datetime,
) -> list[dict[str, Any]]:
    rows = []
    for key in sorted(states):
        state = states[key]
        status, interval = (live or {}).get(key, (None, None))
        row: dict[str, Any] = {
            "connection": key[0],
            "stream": key[1],
            "health": health(state, now, interval),
            "last_success_at": _iso(state.last_success_at) if state is not None else None,
            "watermark": _iso(state.watermark) if state is not None else None,
            "records_synced": state.records_synced if state is not None else 0,
            "records_rejected": rejected.get(key, 0),
            "errors_by_category": dict(state.errors_by_category or {}) if state else {},
        }
        if live is not None:
            row["live"] = status
        rows.append(row)
    return rows


async def collect(
    db: Engine | None = None, target: str | None = None
) -> tuple[list[dict[str, Any]], str | None]:
    """Rows for every known stream, and a warning when Temporal could not be asked."""
    with (db or engine()).connect() as conn:
        states, rejected = _snapshot(conn)
    now = utcnow()
    try:
        client = await connect_or_fail(target, timeout=CONNECT_TIMEOUT_S)
    except TemporalUnreachable as exc:
        return (build_rows(states, rejected, None, now),
                f"Temporal unreachable at {exc.target}: showing database state only")
    live = await live_status(client, sorted(states))
    return build_rows(states, rejected, live, now), None
