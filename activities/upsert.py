"""upsert_page: a batch of staged pages' canonical rows into the destination table."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

import orjson
from sqlalchemy import Connection, DateTime, Numeric
from temporalio import activity

from activities import logs, metrics
from activities.models import PageTask, UpsertResult
from activities.runtime import connector_for, in_transactions
from store import staging
from store.db import to_ms, utcnow
from store.upsert import BulkUpsert, bulk_upsert, upsert_transformed


def _prepare(conn: Connection, task: PageTask, page_ids: list[int]) -> tuple[int, Any]:
    """The batch's leading pages' upserts, built: (pages taken, (provider, pages))."""
    _, mappings, connection_row = connector_for(conn, task.connection)
    table = mappings[task.stream].table
    decoders: dict[str, Any] = {}
    for column in table.columns:
        if isinstance(column.type, DateTime):
            decoders[column.name] = datetime.fromisoformat
        elif isinstance(column.type, Numeric):
            decoders[column.name] = Decimal
    now = utcnow()
    if conn.dialect.name == "postgresql":  # the database reads the rows itself
        states = staging.leading_page_states(conn, page_ids)
        for state in states:
            if not state.transformed:
                raise RuntimeError(f"staged page {state.id} has not been transformed")
        return len(states), (connection_row.provider, [s.id for s in states], table, now)
    pages: list[tuple[int, BulkUpsert, int, datetime | None]] = []
    for page in staging.leading_pages(conn, page_ids, transformed=True):
        if page.transformed is None:
            raise RuntimeError(f"staged page {page.id} has not been transformed")
        rows = orjson.loads(page.transformed)
        for row in rows:
            for name, decode in decoders.items():
                if row.get(name) is not None:
                    row[name] = decode(row[name])
            row.update(connection=task.connection, stream=task.stream, synced_at=now)
        newest = max((r["source_updated_at"] for r in rows), default=None)
        pages.append((page.id, bulk_upsert(conn.dialect, table, rows), len(rows), newest))
    return len(pages), (connection_row.provider, pages)


def _write(conn: Connection, task: PageTask, work: Any) -> UpsertResult:
    """Rows are counted per page, as the window's totals count them."""
    provider, pages, *postgresql = work
    logs.bind(provider=provider)
    upserted = 0
    newest_of_all: datetime | None = None
    if postgresql:
        table, now = postgresql
        upsert_transformed(conn, table, pages, connection=task.connection, stream=task.stream,
                           synced_at=now)
        upserted, newest_of_all = staging.upserted_totals(conn, pages)
    for page_id, bulk, rows, newest in () if postgresql else pages:
        bulk.run(conn)
        staging.mark_upserted(conn, page_id, rows, newest)
        upserted += rows
        if newest is not None and (newest_of_all is None or newest > newest_of_all):
            newest_of_all = newest
    metrics.count(metrics.RECORDS_UPSERTED, upserted,
                  metrics.labels(task.connection, task.stream, provider))
    return UpsertResult(upserted=upserted, max_updated_ms=to_ms(newest_of_all))


@activity.defn
async def upsert_page(task: PageTask) -> UpsertResult:
    parts = await in_transactions(_prepare, _write, task, task.page_ids)
    newest = [p.max_updated_ms for p in parts if p.max_updated_ms is not None]
    return UpsertResult(upserted=sum(p.upserted for p in parts),
                        max_updated_ms=max(newest, default=None))
