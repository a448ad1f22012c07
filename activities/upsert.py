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
    pages = staging.load(conn, task.page_ids)
    decoders: dict[str, Any] = {}
    for column in table.columns:
        if isinstance(column.type, DateTime):
            decoders[column.name] = datetime.fromisoformat
        elif isinstance(column.type, Numeric):
            decoders[column.name] = Decimal
    now = utcnow()
    batch: list[dict[str, Any]] = []
    for page in pages:
        if page.transformed is None:
            raise RuntimeError(f"staged page {page.id} has not been transformed")
        rows = orjson.loads(page.transformed)
        for row in rows:
            for name, decode in decoders.items():
                if row.get(name) is not None:
                    row[name] = decode(row[name])
            row.update(connection=task.connection, stream=task.stream, synced_at=now)
        page_newest = max((r["source_updated_at"] for r in rows), default=None)
        staging.mark_upserted(conn, page.id, len(rows), page_newest)
        batch += rows
    upsert_rows(conn, table, batch)
    newest = max((r["source_updated_at"] for r in batch), default=None)
    # Counted per page, as the window's totals count them.
    written = len(batch)
    metrics.count(metrics.RECORDS_UPSERTED, written,
                  metrics.labels(task.connection, task.stream, connection_row.provider))
    return UpsertResult(upserted=written, max_updated_ms=to_ms(newest))


@activity.defn
async def upsert_page(task: PageTask) -> UpsertResult:
    return await db(_upsert, task)
