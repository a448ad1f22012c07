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
from activities.transform import TRANSACTION_RECORDS
from store import staging
from store.db import to_ms, utcnow
from store.upsert import upsert_rows


def _upsert(conn: Connection, task: PageTask, page_ids: list[int]) -> tuple[int, UpsertResult]:
    """Pages of the batch in one transaction until it holds TRANSACTION_RECORDS: (pages, result).

    Rows are counted per page, as the window's totals count them.
    """
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
    total = UpsertResult(upserted=0, max_updated_ms=None)
    pages = seen = 0
    for page_id in page_ids:
        page = staging.page(conn, page_id)
        if page.transformed is None:
            raise RuntimeError(f"staged page {page.id} has not been transformed")
        rows = orjson.loads(page.transformed)
        for row in rows:
            for name, decode in decoders.items():
                if row.get(name) is not None:
                    row[name] = decode(row[name])
            row.update(connection=task.connection, stream=task.stream, synced_at=now)
        upsert_rows(conn, table, rows)
        newest = max((r["source_updated_at"] for r in rows), default=None)
        staging.mark_upserted(conn, page.id, len(rows), newest)
        total.upserted += len(rows)
        if newest is not None:
            total.max_updated_ms = max(total.max_updated_ms or 0, to_ms(newest) or 0)
        pages += 1
        seen += page.fetched
        if seen >= TRANSACTION_RECORDS:
            break
    metrics.count(metrics.RECORDS_UPSERTED, total.upserted,
                  metrics.labels(task.connection, task.stream, connection_row.provider))
    return pages, total


@activity.defn
async def upsert_page(task: PageTask) -> UpsertResult:
    total = UpsertResult(upserted=0, max_updated_ms=None)
    left = list(task.page_ids)
    while left:
        pages, done = await db(_upsert, task, left)
        left = left[pages:]
        total.upserted += done.upserted
        if done.max_updated_ms is not None:
            total.max_updated_ms = max(total.max_updated_ms or 0, done.max_updated_ms)
    return total
