"""reconcile_deletes: a deletes pass's next pages of archived records, soft-deleted page by page.

The workflow walks the pass a call at a time, as it walks a window: one provider request per
call where the connection has a request rate (the server paces the provider queue), a run of
pages otherwise. Only the cursor and counts go back to history; each page's soft deletes are
written in a transaction of their own, so no more than a page of archived ids is ever held.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import httpx
from sqlalchemy import Connection
from temporalio import activity

from activities.fetch import RUN_SECONDS, access_token, failed, paced
from activities.models import DeletesRequest, DeletesResult
from connectors.base import ArchivedPage, ListsArchived
from connectors.errors import ProviderError
from infra import http, logs, metrics
from infra.configured import connector_for, invalid_input
from infra.times import from_ms, now_ms, utcnow
from infra.transactions import Transactions
from store import deletes, sync_state

log = logging.getLogger("tributary.deletes")


def _prepare(conn: Connection, request: DeletesRequest) -> tuple[Any, Any, str, int]:
    connector, mappings, _ = connector_for(conn, request.connection)
    if not isinstance(connector, ListsArchived):
        raise invalid_input(f"{connector.provider} lists no archived records")
    return (connector, mappings[request.stream].table,
            *access_token(conn, request.connection))


def _apply(conn: Connection, request: DeletesRequest, table: Any, page: ArchivedPage,
           last: bool, archived_before: int) -> int:
    """One page's soft deletes; the last page also records the pass, in the same transaction."""
    archived = deletes.soft_delete(
        conn, table, connection=request.connection, stream=request.stream,
        archived=[(external_id, from_ms(at)) for external_id, at in page.archived],
        synced_at=utcnow())
    sync_state.clear_block(conn, request.connection, request.stream)
    if last:
        deletes.record_pass(conn, request.connection, request.stream,
                            from_ms(request.started_ms), archived_before + archived, utcnow())
    return archived


async def _call(db: Transactions, client: httpx.AsyncClient, connector: Any, token: str,
                version: int, request: DeletesRequest, cursor: dict[str, Any] | None,
                at: Any) -> ArchivedPage:
    await paced(request.connection, connector.settings.requests_per_second)
    started = time.monotonic()
    try:
        page: ArchivedPage = await connector.fetch_archived(client, token, request.stream,
                                                            cursor)
    except ProviderError as exc:
        metrics.provider_call(at, "list_archived", time.monotonic() - started, exc)
        raise await failed(db, request, exc, version) from None
    metrics.provider_call(at, "list_archived", time.monotonic() - started)
    return page


@activity.defn
async def reconcile_deletes(request: DeletesRequest) -> DeletesResult:
    return await reconcile(Transactions.configured(), http.client(), request)


async def reconcile(db: Transactions, client: httpx.AsyncClient,
                    request: DeletesRequest) -> DeletesResult:
    """reconcile_deletes on the given database and HTTP client."""
    connector, table, token, version = await db.read(_prepare, request)
    logs.bind(provider=connector.provider)
    at = metrics.labels(request.connection, request.stream, connector.provider)
    if request.not_before_ms is not None:
        wait_ms = max(0, request.not_before_ms - now_ms())
        if wait_ms:
            await asyncio.sleep(wait_ms / 1000)
    started = time.monotonic()
    cursor = request.cursor
    pages = seen = archived = slow_down_ms = 0
    while True:
        page = await _call(db, client, connector, token, version, request, cursor, at)
        cursor, pages, seen = page.next_cursor, pages + 1, seen + len(page.archived)
        slow_down_ms = page.slow_down_ms
        last = cursor is None
        archived += await db.write(_apply, request, table, page, last,
                                   request.archived_before + archived)
        if (last or pages >= request.max_pages or slow_down_ms
                or time.monotonic() - started >= RUN_SECONDS):
            break
    log.info("deletes pass: %d archived records listed, %d rows archived%s", seen, archived,
             "; pass complete" if cursor is None else "")
    return DeletesResult(cursor, pages, seen, archived, slow_down_ms)
