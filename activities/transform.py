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


def _transform(conn: Connection, task: PageTask, page_id: int) -> TransformResult:
    """One staged page of the batch, in its own transaction."""
    _, mappings, connection_row = connector_for(conn, task.connection)
    logs.bind(provider=connection_row.provider)
    mapping = mappings[task.stream]
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
    metrics.count(metrics.RECORDS_REJECTED, len(rejected),
                  metrics.labels(task.connection, task.stream, connection_row.provider))
    return TransformResult(valid=len(rows), rejected=len(rejected))


@activity.defn
async def transform_page(task: PageTask) -> TransformResult:
    # A transaction per page, not per batch: SQLite's one writer lock is never held long
    # enough to stall the fetches staging their pages meanwhile. Each page is idempotent.
    total = TransformResult(valid=0, rejected=0)
    for page_id in task.page_ids:
        done = await db(_transform, task, page_id)
        total.valid += done.valid
        total.rejected += done.rejected
    return total
