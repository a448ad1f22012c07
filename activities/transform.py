"""transform_page: staged raw records -> canonical rows; bad records go to rejected records.

One call transforms a batch of staged pages of a window, committing every
staging.TRANSACTION_RECORDS records.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import Connection
from temporalio import activity

from activities.models import PageTask, TransformResult
from connectors.mapping import apply, record_id
from infra import logs, metrics
from infra.configured import connector_for
from infra.transactions import Transactions
from store import staging


@dataclass
class _Page:
    """A page's rows serialized (before the write transaction), not the rows themselves."""

    id: int
    transformed: str
    accepted_ids: list[str]
    rejected: list[tuple[str, str, dict[str, Any]]]


def _prepare(conn: Connection, task: PageTask, page_ids: list[int]) -> tuple[int, Any]:
    """The batch's leading pages, transformed: (pages taken, (provider, pages))."""
    _, mappings, connection_row = connector_for(conn, task.connection)
    mapping = mappings[task.stream]
    pages: list[_Page] = []
    for staged in staging.leading_pages(conn, page_ids):
        rows, rejected = [], []
        for record in orjson.loads(staged.raw):
            try:
                row, errors = apply(mapping, record)
            except Exception as exc:  # a malformed record must not stop the page
                row, errors = None, [f"{type(exc).__name__}: {exc}"]
            if row is None:
                rejected.append((record_id(mapping, record), "; ".join(errors), record))
            else:
                rows.append(row)
        pages.append(_Page(staged.id, staging.serialize_rows(rows),
                           [row["external_id"] for row in rows], rejected))
    return len(pages), (connection_row.provider, pages)


def _write(conn: Connection, task: PageTask, work: Any) -> TransformResult:
    provider, pages = work
    logs.bind(provider=provider)
    total = TransformResult(rejected=0)
    for page in pages:
        staging.save_transformed(conn, page.id, page.transformed, len(page.accepted_ids),
                                 len(page.rejected))
        staging.reject(
            conn, connection=task.connection, stream=task.stream, window_id=task.window_id,
            rejected=page.rejected, accepted_ids=page.accepted_ids,
        )
        total.rejected += len(page.rejected)
    metrics.count(metrics.RECORDS_REJECTED, total.rejected,
                  metrics.labels(task.connection, task.stream, provider))
    return total


@activity.defn
async def transform_page(task: PageTask) -> TransformResult:
    return await transform(Transactions.configured(), task)


async def transform(db: Transactions, task: PageTask) -> TransformResult:
    """transform_page on the given database."""
    parts = await db.in_chunks(_prepare, _write, task, task.page_ids)
    return TransformResult(rejected=sum(p.rejected for p in parts))
