"""upsert_page: a batch of staged pages' canonical rows into the destination table."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection
from temporalio import activity

from activities.models import PageTask, UpsertResult
from infra import logs, metrics
from infra.configured import connector_for
from infra.times import utcnow
from infra.transactions import Transactions
from store import staging
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
    upserted, _ = upsert_transformed(conn, table, page_ids, connection=task.connection,
                                          stream=task.stream, synced_at=utcnow())
    metrics.count(metrics.RECORDS_UPSERTED, upserted,
                  metrics.labels(task.connection, task.stream, provider))
    return UpsertResult(upserted=upserted)


@activity.defn
async def upsert_page(task: PageTask) -> UpsertResult:
    return await upsert(Transactions.configured(), task)


async def upsert(db: Transactions, task: PageTask) -> UpsertResult:
    """upsert_page on the given database."""
    parts = await db.in_chunks(_prepare, _write, task, task.page_ids)
    return UpsertResult(upserted=sum(p.upserted for p in parts))
