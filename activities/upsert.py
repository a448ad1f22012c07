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


def _upsert(conn: Connection, task: PageTask) -> UpsertResult:
    _, mappings, connection_row = connector_for(conn, task.connection)
    logs.bind(provider=connection_row.provider)
    table = mappings[task.stream].table
    decoders: dict[str, Any] = {}
    for column in table.columns:
        if isinstance(column.type, DateTime):
            decoders[column.name] = datetime.fromisoformat
        elif isinstance(column.type, Numeric):
            decoders[column.name] = Decimal
    now = utcnow()
    written = 0
    newest: datetime | None = None
    # Page by page in one transaction: the batch is atomic, memory holds one page.
    for page in staging.pages(conn, task.page_ids):
        if page.transformed is None:
            raise RuntimeError(f"staged page {page.id} has not been transformed")
        rows = orjson.loads(page.transformed)
        for row in rows:
            for name, decode in decoders.items():
                if row.get(name) is not None:
                    row[name] = decode(row[name])
            row.update(connection=task.connection, stream=task.stream, synced_at=now)
        upsert_rows(conn, table, rows)
        page_newest = max((r["source_updated_at"] for r in rows), default=None)
        staging.mark_upserted(conn, page.id, len(rows), page_newest)
        written += len(rows)  # counted per page, as the window's totals count them
        if page_newest is not None and (newest is None or page_newest > newest):
            newest = page_newest
    metrics.count(metrics.RECORDS_UPSERTED, written,
                  metrics.labels(task.connection, task.stream, connection_row.provider))
    return UpsertResult(upserted=written, max_updated_ms=to_ms(newest))


@activity.defn
async def upsert_page(task: PageTask) -> UpsertResult:
    return await db(_upsert, task)
