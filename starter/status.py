"""Health of every (connection, stream): the database first, live workflow state when reachable."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, func, select
from temporalio.client import Client, WorkflowExecution
from temporalio.service import RPCError

from connectors.registry import streams
from infra.staleness import sla_seconds
from infra.times import aware, from_ms_aware, utcnow
from starter.temporal_client import TemporalUnreachable, connect_or_fail
from store import properties
from store.db import engine
from store.schema import (
    connections,
    credentials,
    delete_passes,
    rejected_records,
    stream_state,
    sync_runs,
)
from workflows.inputs import every_seconds_or_none
from workflows.names import CONNECTION, STREAM, WORKFLOW_TYPE

CONNECT_TIMEOUT_S = 2.0
QUERY_TIMEOUT = timedelta(seconds=2)

Key = tuple[str, str]
# A running sync's status query result and its interval.
Live = dict[Key, tuple[dict[str, Any], timedelta | None]]


def health(
    state: Any, now: datetime, interval: timedelta | None = None, blocked: bool = False,
    config: dict[str, Any] | None = None,
) -> str:
    """red: blocked, failing since its last success, or stale beyond its SLA; yellow: never
    synced yet; green otherwise.

    The SLA is the worker's staleness rule: the connection's `sla_s`, else twice the interval.
    """
    last_success = state.last_success_at if state is not None else None
    last_error = state.last_error_at if state is not None else None
    if blocked or (last_error is not None and (last_success is None or last_error > last_success)):
        return "red"
    every_s = interval.total_seconds() if interval is not None else None
    threshold = timedelta(seconds=sla_seconds(config or {}, every_s))
    if last_success is None:
        return "yellow"
    return "red" if now - last_success > threshold else "green"


def _iso(value: datetime | None) -> str | None:
    return None if value is None else aware(value).isoformat()


@dataclass
class Snapshot:
    """What the database knows about every stream, read in one connection."""

    states: dict[Key, Any]
    rejected: dict[Key, int]
    synced_24h: dict[Key, int]
    token_refreshes: dict[str, int]  # by connection: tokens belong to the connection
    configs: dict[str, dict[str, Any]]
    deletes: dict[Key, Any]  # the last deletes pass of each stream that had one
    # Properties created or archived upstream, newest first (store.properties).
    schema_changes: dict[Key, list[dict[str, Any]]]


def _snapshot(conn: Connection, now: datetime) -> Snapshot:
    states: dict[Key, Any] = {
        (row.connection, row.stream): row for row in conn.execute(select(stream_state))
    }
    configs = {}
    for row in conn.execute(select(connections.c.name, connections.c.provider,
                                   connections.c.config)):
        configs[row.name] = row.config or {}
        for stream in streams(row.provider, row.config or {}):
            states.setdefault((row.name, stream), None)  # a connection not synced yet
    counted = conn.execute(
        select(rejected_records.c.connection, rejected_records.c.stream,
               func.count().label("n"))
        .group_by(rejected_records.c.connection, rejected_records.c.stream)
    )
    synced = conn.execute(
        select(sync_runs.c.connection, sync_runs.c.stream,
               func.sum(sync_runs.c.records_upserted).label("n"))
        .where(sync_runs.c.finished_at >= now - timedelta(hours=24))
        .group_by(sync_runs.c.connection, sync_runs.c.stream)
    )
    refreshes = conn.execute(select(credentials.c.connection, credentials.c.refresh_count))
    return Snapshot(
        states=states,
        # By name: unpacking a Row types its values as the join of their types (object).
        rejected={(r.connection, r.stream): int(r.n) for r in counted},
        synced_24h={(r.connection, r.stream): int(r.n or 0) for r in synced},
        token_refreshes={r.connection: int(r.refresh_count or 0) for r in refreshes},
        configs=configs,
        deletes={(r.connection, r.stream): r for r in conn.execute(select(delete_passes))},
        schema_changes=properties.recent(conn),
    )


def _key(execution: WorkflowExecution) -> Key | None:
    """The stream a running sync works on: its search attributes, else its id.

    A schedule's runs carry ids like sync/<connection>/<stream>-<time>, but the schedule sets the
    search attributes at start, so they are found before the workflow has tagged itself.
    """
    attributes = execution.typed_search_attributes
    connection, stream = attributes.get(CONNECTION), attributes.get(STREAM)
    if connection and stream:
        return connection, stream
    parts = execution.id.split("/")
    return (parts[1], parts[2]) if len(parts) == 3 and parts[0] == "sync" else None


async def live_status(client: Client, keys: list[Key]) -> Live:
    """Status query result and interval of each running sync among `keys`."""
    wanted = set(keys)
    running: dict[Key, str] = {}
    async for execution in client.list_workflows(
            f"WorkflowType = '{WORKFLOW_TYPE}' AND ExecutionStatus = 'Running'"):
        key = _key(execution)
        if key in wanted:
            running[key] = execution.id
    found: Live = {}
    for key, wid in running.items():
        try:
            result = await client.get_workflow_handle(wid).query(
                "status", rpc_timeout=QUERY_TIMEOUT)
        except RPCError as exc:  # e.g. no worker polls the workflow queue right now
            result = {"state": "unknown", "error": f"status query failed: {exc.message}"}
        seconds = every_seconds_or_none(result.get("every"))
        found[key] = (result, timedelta(seconds=seconds) if seconds else None)
    return found


def _still_ahead(state: Any, now: datetime) -> datetime | None:
    until = getattr(state, "blocked_until", None)
    return until if until is not None and until > now else None


def _since(ms: int | None) -> str | None:
    return None if ms is None else from_ms_aware(ms).isoformat()


def _deletes(last: Any) -> dict[str, Any]:
    """When deletes were last reconciled (the last pass's start: rows archived upstream
    before it are archived here) and how many rows passes archived."""
    return {
        "deletes_reconciled_at": None if last is None else _iso(last.last_run_at),
        "deletes_archived_last": None if last is None else last.archived_count,
        "deletes_archived_total": None if last is None else last.archived_total,
    }


def build_rows(
    snapshot: Snapshot, live: Live | None, now: datetime,
) -> list[dict[str, Any]]:
    rows = []
    for key in sorted(snapshot.states):
        state = snapshot.states[key]
        status, interval = (live or {}).get(key, (None, None))
        blocked = (status or {}).get("blocked")
        watermark = state.watermark if state is not None else None
        errors = dict(state.errors_by_category or {}) if state else {}
        row: dict[str, Any] = {
            "connection": key[0],
            "stream": key[1],
            "health": health(state, now, interval, blocked=bool(blocked),
                             config=snapshot.configs.get(key[0])),
            "last_success_at": _iso(state.last_success_at) if state is not None else None,
            "watermark": _iso(watermark),
            "lag_seconds": None if watermark is None else int((now - watermark).total_seconds()),
            "records_synced": state.records_synced if state is not None else 0,
            "records_synced_24h": snapshot.synced_24h.get(key, 0),
            "records_rejected": snapshot.rejected.get(key, 0),
            "errors_by_category": errors,
            "rate_limit_waits": errors.get("rate_limited", 0),
            "token_refreshes": snapshot.token_refreshes.get(key[0], 0),
            # Held back by the provider's rate limit (a daily quota) until then; from the
            # database, so it shows with Temporal down too.
            "rate_limited_until": _iso(_still_ahead(state, now)),
            # The provider's quota as it last reported it (Salesforce: daily API requests).
            "provider_usage": getattr(state, "provider_usage", None),
            "last_error": getattr(state, "last_error", None),
            **_deletes(snapshot.deletes.get(key)),
            "schema_changes": [{**change, "seen_at": _iso(change["seen_at"])}
                               for change in snapshot.schema_changes.get(key, [])],
        }
        if live is not None:
            row["blocked"] = blocked
            # Exposed by the workflow once it records when it blocked; None until then.
            row["blocked_since"] = _since((status or {}).get("blocked_since_ms")) \
                if blocked else None
            row["live"] = status
        rows.append(row)
    return rows


async def collect(
    db: Engine | None = None, target: str | None = None
) -> tuple[list[dict[str, Any]], str | None]:
    """Rows for every known stream, and a warning when Temporal could not be asked."""
    now = utcnow()
    with (db or engine()).connect() as conn:
        snapshot = _snapshot(conn, now)
    try:
        client = await connect_or_fail(target, timeout=CONNECT_TIMEOUT_S)
    except TemporalUnreachable as exc:
        return (build_rows(snapshot, None, now),
                f"Temporal unreachable at {exc.target}: showing database state only")
    live = await live_status(client, sorted(snapshot.states))
    return build_rows(snapshot, live, now), None
