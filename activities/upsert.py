"""upsert_page: the staged page's canonical rows into the destination table."""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal
from typing import Any

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
    page = staging.load(conn, task.page_id)
    if page.transformed is None:
        raise RuntimeError(f"staged page {task.page_id} has not been transformed")
    decoders: dict[str, Any] = {}
    for column in table.columns:
        if isinstance(column.type, DateTime):
            decoders[column.name] = datetime.fromisoformat
        elif isinstance(column.type, Numeric):
            decoders[column.name] = Decimal
    now = utcnow()
    rows = []
    for row in json.loads(page.transformed):
        for name, decode in decoders.items():
            if row.get(name) is not None:
                row[name] = decode(row[name])
        row.update(connection=task.connection, stream=task.stream, synced_at=now)
        rows.append(row)
    written = upsert_rows(conn, table, rows)
    newest = max((r["source_updated_at"] for r in rows), default=None)
    staging.mark_upserted(conn, task.page_id, written, newest)
    metrics.count(metrics.RECORDS_UPSERTED, written,
                  metrics.labels(task.connection, task.stream, connection_row.provider))
    return UpsertResult(upserted=written, max_updated_ms=to_ms(newest))


@activity.defn
async def upsert_page(task: PageTask) -> UpsertResult:
    return await db(_upsert, task)
