"""The worker's staleness watch: a stream beyond its connection's SLA is red, and says so once.

Every `TRIBUTARY_STALENESS_CHECK_S` seconds the worker reads stream_state, sets the per-stream
gauges (watermark lag, time since last success, stale) and logs one structured alert line when a
stream turns red and one when it recovers, never one per check.

SLA: the connection setting `sla_s`; else twice the stream's `every` interval (read from the
running sync's `status` query, once per workflow run); else one hour.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, select
from temporalio.client import Client
from temporalio.runtime import Runtime
from temporalio.service import RPCError

from infra import metrics
from infra.times import utcnow
from infra.transactions import Transactions
from store.schema import connections, stream_state
from workflows.inputs import every_seconds_or_none
from workflows.names import CONNECTION, STREAM, WORKFLOW_TYPE

DEFAULT_SLA_S = 3600.0
QUERY_TIMEOUT = timedelta(seconds=2)
log = logging.getLogger("tributary.staleness")


def sla_seconds(config: dict[str, Any], every_s: float | None) -> float:
    if config.get("sla_s"):
        return float(config["sla_s"])
    return 2 * every_s if every_s else DEFAULT_SLA_S


@dataclass(frozen=True)
class StreamRow:
    connection: str
    stream: str
    provider: str
    config: dict[str, Any]
    since: datetime  # last success, or when the connection was added if it never succeeded
    watermark: datetime | None


def _rows(conn: Connection, running: set[tuple[str, str]]) -> list[StreamRow]:
    found: dict[tuple[str, str], tuple[datetime | None, datetime | None]] = {
        (r.connection, r.stream): (r.last_success_at, r.watermark)
        for r in conn.execute(select(stream_state))
    }
    for key in running:
        found.setdefault(key, (None, None))  # a first sync in progress: no row yet
    known = {r.name: r for r in conn.execute(select(connections))}
    rows = []
    for (name, stream), (success, watermark) in sorted(found.items()):
        connection = known.get(name)
        if connection is not None:
            rows.append(StreamRow(name, stream, connection.provider, dict(connection.config),
                                  success or connection.created_at, watermark))
    return rows


class StalenessWatch:
    def __init__(self, client: Client) -> None:
        self._client = client
        runtime = client.service_client.config.runtime or Runtime.default()
        self._meter = runtime.metric_meter
        self._red: dict[tuple[str, str], bool] = {}
        self._every: dict[str, tuple[str, float | None]] = {}  # workflow id -> (run id, every)

    async def _running(self) -> dict[tuple[str, str], float | None]:
        """Running syncs and their interval (seconds; None: one cycle only)."""
        found: dict[tuple[str, str], float | None] = {}
        query = f"WorkflowType = '{WORKFLOW_TYPE}' AND ExecutionStatus = 'Running'"
        async for execution in self._client.list_workflows(query):
            attrs = execution.typed_search_attributes
            connection, stream = attrs.get(CONNECTION), attrs.get(STREAM)
            if connection is None or stream is None:
                continue
            cached = self._every.get(execution.id)
            if cached is None or cached[0] != execution.run_id:
                cached = (execution.run_id or "", await self._interval(execution.id))
                self._every[execution.id] = cached
            found[(connection, stream)] = cached[1]
        return found

    async def _interval(self, workflow_id: str) -> float | None:
        try:
            status = await self._client.get_workflow_handle(workflow_id).query(
                "status", rpc_timeout=QUERY_TIMEOUT)
        except RPCError:
            return None  # not answerable right now; the default SLA applies
        seconds = every_seconds_or_none(status.get("every") if isinstance(status, dict) else None)
        return None if seconds is None else float(seconds)

    async def check(self) -> None:
        running = await self._running()
        rows = await Transactions.configured().write(_rows, set(running))
        now = utcnow()
        for row in rows:
            key = (row.connection, row.stream)
            sla = sla_seconds(row.config, running.get(key))
            since_s = max((now - row.since).total_seconds(), 0.0)
            red = since_s > sla
            at = metrics.labels(row.connection, row.stream, row.provider)
            metrics.set_gauge(self._meter, metrics.SECONDS_SINCE_SUCCESS, since_s, at)
            metrics.set_gauge(self._meter, metrics.STREAM_STALE, 1.0 if red else 0.0, at)
            if row.watermark is not None:
                lag = max((now - row.watermark).total_seconds(), 0.0)
                metrics.set_gauge(self._meter, metrics.WATERMARK_LAG, lag, at)
            if red != self._red.get(key, False):
                self._alert(row, red, since_s, sla)
            self._red[key] = red

    @staticmethod
    def _alert(row: StreamRow, red: bool, since_s: float, sla: float) -> None:
        fields = {"connection": row.connection, "stream": row.stream, "provider": row.provider,
                  "alert": {"event": "stale" if red else "recovered",
                            "health": "red" if red else "green",
                            "sla_s": sla, "seconds_since_success": round(since_s, 1)}}
        if red:
            log.warning("stream stale: no successful sync for %.0fs, beyond its SLA of %.0fs",
                        since_s, sla, extra=fields)
        else:
            log.info("stream back within its SLA of %.0fs", sla, extra=fields)


async def watch(client: Client, every_s: float, stop: asyncio.Event) -> None:
    """Check every `every_s` seconds until `stop` is set; a failed check is logged and retried."""
    staleness = StalenessWatch(client)
    while not stop.is_set():
        try:
            await staleness.check()
        except Exception:  # a database or Temporal hiccup must not end the watch
            log.exception("staleness check failed; retrying in %gs", every_s)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), every_s)
