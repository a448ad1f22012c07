"""transform_page: staged raw records -> canonical rows; bad records go to rejected records.

One call transforms a batch of staged pages of a window in one transaction.
"""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy import Connection
from temporalio import activity

from activities import logs, metrics
from activities.models import PageTask, TransformResult
from activities.runtime import connector_for, db
from connectors.mapping import apply, record_id
from store import staging

# A batch commits every this many records: SQLite's one writer lock is never held long enough to
# stall the fetches staging their pages meanwhile, and PostgreSQL isn't asked to commit per page.
# Every page is idempotent, so a batch cut by a crash is simply redone.
TRANSACTION_RECORDS = 1_000


def _transform(
    conn: Connection, task: PageTask, page_ids: list[int]
) -> tuple[int, TransformResult]:
    """Pages of the batch in one transaction until it holds TRANSACTION_RECORDS: (pages, result)."""
    _, mappings, connection_row = connector_for(conn, task.connection)
    logs.bind(provider=connection_row.provider)
    mapping = mappings[task.stream]
    total = TransformResult(valid=0, rejected=0)
    pages = seen = 0
    for page_id in page_ids:
        page = staging.page(conn, page_id)
        rows: list[dict[str, Any]] = []
        rejected: list[tuple[str, str, dict[str, Any]]] = []
        for record in orjson.loads(page.raw):
            try:
                row, errors = apply(mapping, record)
            except Exception as exc:  # a malformed record must not stop the page
                row, errors = None, [f"{type(exc).__name__}: {exc}"]
            if row is None:
                rejected.append((record_id(mapping, record), "; ".join(errors), record))
            else:
                rows.append(row)
        staging.save_transformed(conn, page.id, rows, len(rejected))
        staging.reject(
            conn, connection=task.connection, stream=task.stream, window_id=task.window_id,
            rejected=rejected, accepted_ids=[r["external_id"] for r in rows],
        )
        total.valid += len(rows)
        total.rejected += len(rejected)
        pages += 1
        seen += page.fetched
        if seen >= TRANSACTION_RECORDS:
            break
    metrics.count(metrics.RECORDS_REJECTED, total.rejected,
                  metrics.labels(task.connection, task.stream, connection_row.provider))
    return pages, total


@activity.defn
async def transform_page(task: PageTask) -> TransformResult:
    total = TransformResult(valid=0, rejected=0)
    left = list(task.page_ids)
    while left:
        pages, done = await db(_transform, task, left)
        left = left[pages:]
        total.valid += done.valid
        total.rejected += done.rejected
    return total
