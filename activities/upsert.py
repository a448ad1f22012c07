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
from activities.runtime import connector_for, db
from store import staging
from store.db import to_ms, utcnow
from store.upsert import upsert_rows


def _upsert(conn: Connection, task: PageTask, page_id: int) -> UpsertResult:
    """One staged page of the batch, in its own transaction."""
    _, mappings, connection_row = connector_for(conn, task.connection)
    logs.bind(provider=connection_row.provider)
    table = mappings[task.stream].table
    page = staging.page(conn, page_id)
    if page.transformed is None:
        raise RuntimeError(f"staged page {page.id} has not been transformed")
    decoders: dict[str, Any] = {}
    for column in table.columns:
        if isinstance(column.type, DateTime):
            decoders[column.name] = datetime.fromisoformat
        elif isinstance(column.type, Numeric):
            decoders[column.name] = Decimal
    now = utcnow()
    rows = orjson.loads(page.transformed)
    for row in rows:
        for name, decode in decoders.items():
            if row.get(name) is not None:
                row[name] = decode(row[name])
        row.update(connection=task.connection, stream=task.stream, synced_at=now)
    upsert_rows(conn, table, rows)
    newest = max((r["source_updated_at"] for r in rows), default=None)
    staging.mark_upserted(conn, page.id, len(rows), newest)
    metrics.count(metrics.RECORDS_UPSERTED, len(rows),
                  metrics.labels(task.connection, task.stream, connection_row.provider))
    return UpsertResult(upserted=len(rows), max_updated_ms=to_ms(newest))


@activity.defn
async def upsert_page(task: PageTask) -> UpsertResult:
    # A transaction per page, as transform_page: rows are counted per page, as the window's
    # totals count them.
    upserted, newest = 0, None
    for page_id in task.page_ids:
        done = await db(_upsert, task, page_id)
        upserted += done.upserted
        if done.max_updated_ms is not None:
            newest = max(newest or done.max_updated_ms, done.max_updated_ms)
    return UpsertResult(upserted=upserted, max_updated_ms=newest)
