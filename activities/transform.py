"""transform_page: staged raw records -> canonical rows; bad records go to rejected records.

One call transforms a batch of staged pages of a window, committing every
staging.TRANSACTION_RECORDS records.
"""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy import Connection
from temporalio import activity

from activities import logs, metrics
from activities.models import PageTask, TransformResult
from activities.runtime import connector_for, in_transactions
from connectors.mapping import apply, record_id
from store import staging


def _transform(
    conn: Connection, task: PageTask, page_ids: list[int]
) -> tuple[int, TransformResult]:
    """The batch's leading pages, in one transaction: (pages done, their result)."""
    _, mappings, connection_row = connector_for(conn, task.connection)
    logs.bind(provider=connection_row.provider)
    mapping = mappings[task.stream]
    total = TransformResult(valid=0, rejected=0)
    pages = 0
    for page in staging.leading_pages(conn, page_ids):
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
    metrics.count(metrics.RECORDS_REJECTED, total.rejected,
                  metrics.labels(task.connection, task.stream, connection_row.provider))
    return pages, total


@activity.defn
async def transform_page(task: PageTask) -> TransformResult:
    parts = await in_transactions(_transform, task, task.page_ids)
    return TransformResult(valid=sum(p.valid for p in parts),
                           rejected=sum(p.rejected for p in parts))
