"""upsert_page: a batch of staged pages' canonical rows into the destination table."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection
from temporalio import activity

from activities import logs, metrics
from activities.models import PageTask, UpsertResult
from activities.runtime import connector_for, in_transactions
from store import staging
from store.db import to_ms, utcnow
from store.upsert import upsert_transformed


def _prepare(conn: Connection, task: PageTask, page_ids: list[int]) -> tuple[int, Any]:
    """The batch's leading pages: (pages taken, (provider, table, page ids))."""
    _, mappings, connection_row = connector_for(conn, task.connection)
    pages = staging.leading_page_states(conn, page_ids)
    for page in pages:
        if not page.transformed:
            raise RuntimeError(f"staged page {page.id} has not been transformed")
    return len(pages), (connection_row.provider, mappings[task.stream].table,
                        [page.id for page in pages])


def _write(conn: Connection, task: PageTask, work: Any) -> UpsertResult:
    """Rows are counted per page, as the window's totals count them."""
    provider, table, page_ids = work
    logs.bind(provider=provider)
    upserted, newest = upsert_transformed(conn, table, page_ids, connection=task.connection,
                                          stream=task.stream, synced_at=utcnow())
    metrics.count(metrics.RECORDS_UPSERTED, upserted,
                  metrics.labels(task.connection, task.stream, provider))
    return UpsertResult(upserted=upserted, max_updated_ms=to_ms(newest))


@activity.defn
async def upsert_page(task: PageTask) -> UpsertResult:
    parts = await in_transactions(_prepare, _write, task, task.page_ids)
    newest = [p.max_updated_ms for p in parts if p.max_updated_ms is not None]
    return UpsertResult(upserted=sum(p.upserted for p in parts),
                        max_updated_ms=max(newest, default=None))
