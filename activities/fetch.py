"""fetch_page: a provider call (or a run of them), each raw page staged in the database, a
reference returned."""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import Connection
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities import properties
from activities.models import DeletesRequest, FetchRequest, PageRef
from connectors.base import Connector, Page, PageRequest
from connectors.errors import NON_RETRYABLE, ProviderError
from infra import http, limiter, logs, metrics
from infra.configured import connector_for
from infra.times import from_ms, from_ms_or_none, now_ms
from infra.transactions import Transactions
from store import staging, sync_state, vault

log = logging.getLogger("tributary.fetch")
# A run of pages ends after this many records or seconds: the workflow loads what came and
# shows progress, and no attempt nears its start-to-close timeout.
RUN_RECORDS = 10_000
RUN_SECONDS = 2.0
# A run stages its pages a transaction per this many records, not per page: a commit costs
# PostgreSQL a disk flush. A crash loses nothing, the retried run starts over.
STAGE_RECORDS = staging.TRANSACTION_RECORDS


def _prepare(conn: Connection, request: FetchRequest) -> tuple[Connector, str, int]:
    return credentials(conn, request.connection)


def credentials(conn: Connection, connection: str) -> tuple[Connector, str, int]:
    """(connector, access token, credential version) for a provider call of a connection."""
    connector, _, _ = connector_for(conn, connection)
    return connector, *access_token(conn, connection)


def access_token(conn: Connection, connection: str) -> tuple[str, int]:
    """The connection's access token and its vault version, for a provider call."""
    try:
        stored = vault.load(conn, connection)
    except vault.VaultError as exc:
        raise ApplicationError(str(exc), type="auth_failure", non_retryable=True) from None
    if stored.secrets.access_token is None:
        raise ApplicationError("no access token yet: refresh_token has not run",
                               {"credential_version": stored.version},
                               type="auth_failure", non_retryable=True)
    return stored.secrets.access_token, stored.version


def _stage(
    conn: Connection, request: FetchRequest, pages: list[tuple[int, str, int]],
    usage: dict[str, Any] | None,
) -> list[int]:
    """Stage (page number, serialized records, count) pages in one transaction; return their
    ids."""
    if pages[0][0] == request.page_no:
        page_no = request.page_no
        if page_no == 0:
            sync_state.open_run(
                conn, window_id=request.window_id, connection=request.connection,
                stream=request.stream, kind=request.kind,
                window_start=from_ms_or_none(request.window_start_ms),
                window_end=from_ms(request.window_end_ms),
            )
        sync_state.clear_block(conn, request.connection, request.stream)
        if request.max_pages > 1:
            staging.drop_leftovers(conn, request.window_id, page_no,
                                   page_no + request.max_pages)
    if usage is not None:
        sync_state.record_usage(conn, request.connection, request.stream, usage)
    return [staging.stage(conn, window_id=request.window_id, page_no=page_no,
                          connection=request.connection, stream=request.stream, raw=raw,
                          fetched=fetched)
            for page_no, raw, fetched in pages]


async def _call(
    db: Transactions, client: httpx.AsyncClient, connector: Connector, token: str, version: int,
    request: FetchRequest, page_no: int, cursor: dict[str, Any] | None, at: Any,
) -> Page:
    await paced(request.connection, connector.settings.requests_per_second)
    page_request = PageRequest(
        stream=request.stream, kind=request.kind,  # type: ignore[arg-type]  # a SyncKind, as str
        window_start_ms=request.window_start_ms, window_end_ms=request.window_end_ms,
        cursor=cursor,
    )
    started = time.monotonic()
    try:
        page: Page = await connector.fetch_page(client, token, page_request)
    except ProviderError as exc:
        metrics.provider_call(at, "fetch_page", time.monotonic() - started, exc)
        exc.page = page_no
        raise await failed(db, request, exc, version) from None
    metrics.provider_call(at, "fetch_page", time.monotonic() - started)
    return page


async def paced(connection: str, requests_per_second: float | None, each: bool = False) -> None:
    """The per-worker limiter's slot before a provider call (`each`: every call of an activity
    that makes several, limiter.pace_each); saturated, the attempt retries later. Our own
    pacing, not the provider's: nothing to record against the stream."""
    try:
        if each:
            await limiter.pace_each(connection, requests_per_second)
        else:
            await limiter.pace(connection, requests_per_second)
    except limiter.Saturated as exc:
        raise ApplicationError(f"rate_limited: {exc} (per-worker limiter, see "
                               "docs/RUNBOOK.md#rate-limits)", type="rate_limited",
                               next_retry_delay=timedelta(seconds=exc.wait_s)) from None


async def failed(db: Transactions, request: FetchRequest | DeletesRequest, exc: ProviderError,
                 version: int) -> ApplicationError:
    """A provider call that failed: on the stream's record, and as the activity's failure."""
    exc.credential_version = version
    await db.write(sync_state.record_error, request.connection, request.stream,
                   exc.category, str(exc), exc.category not in NON_RETRYABLE, exc.retry_after)
    return exc.to_application_error()


async def _check_properties(db: Transactions, client: httpx.AsyncClient, connector: Any,
                            token: str, version: int, request: FetchRequest,
                            at: metrics.Labels) -> None:
    """Before a slice's first page: the mapping still reads properties the portal has
    (activities.properties); a property gone upstream parks the stream, never syncs nulls."""
    started = time.monotonic()
    try:
        checked = await properties.check(db, client, connector, token, request.connection,
                                         request.stream)
    except ProviderError as exc:
        metrics.provider_call(at, properties.OPERATION, time.monotonic() - started, exc)
        raise await failed(db, request, exc, version) from None
    if checked.requested:
        metrics.provider_call(at, properties.OPERATION, time.monotonic() - started)
    for name, change in checked.changes:  # recorded once, so logged once
        log.warning("schema change: %s property %r %s upstream", request.stream, name, change)
        metrics.count(metrics.SCHEMA_CHANGES, 1, at | {"change": change})
    if checked.refusal is not None:
        raise await failed(db, request, ProviderError(
            "validation_error", checked.refusal, connector.provider, properties.OPERATION, 200),
            version) from None


@activity.defn
async def fetch_page(request: FetchRequest) -> PageRef:
    """Fetch and stage the requested page, or a run of pages (FetchRequest.max_pages) that ends
    with the window, a headroom warning, RUN_RECORDS records or RUN_SECONDS."""
    return await fetch(Transactions.configured(), http.client(), request)


async def fetch(db: Transactions, client: httpx.AsyncClient, request: FetchRequest) -> PageRef:
    """fetch_page on the given database and HTTP client."""
    connector, token, version = await db.read(_prepare, request)
    logs.bind(provider=connector.provider)
    at = metrics.labels(request.connection, request.stream, connector.provider)
    if request.cursor is None and properties.checks(connector):  # each slice's first fetch
        await _check_properties(db, client, connector, token, version, request, at)
    wait_ms = request.delay_ms
    if request.not_before_ms is not None:  # never longer than asked, whatever this clock says
        wait_ms = min(wait_ms, max(0, request.not_before_ms - now_ms()))
    if wait_ms:
        await asyncio.sleep(wait_ms / 1000)  # heartbeats go on meanwhile
    started = time.monotonic()
    cursor = request.cursor
    page_ids: list[int] = []
    unstaged: list[tuple[int, str, int]] = []
    fetched = slow_down_ms = 0
    end = request.page_no + request.max_pages
    for page_no in range(request.page_no, end):
        page = await _call(db, client, connector, token, version, request, page_no, cursor, at)
        unstaged.append((page_no, staging.serialize_records(page.records), len(page.records)))
        fetched += len(page.records)
        cursor = page.next_cursor
        metrics.count(metrics.RECORDS_FETCHED, len(page.records), at)
        metrics.count(metrics.PAGES_FETCHED, 1, at)
        log.info("fetched page %d: %d records", page_no, len(page.records))
        slow_down_ms = page.slow_down_ms
        if slow_down_ms:
            log.info("provider headroom low (%s requests left): this stream waits %d ms before "
                     "its next request", page.rate_remaining, slow_down_ms)
        last = (page_no == end - 1 or cursor is None or slow_down_ms or fetched >= RUN_RECORDS
                or time.monotonic() - started >= RUN_SECONDS)
        usage = page.api_usage
        del page  # serialized: its records are not held through staging or the next call
        if last or sum(count for _, _, count in unstaged) >= STAGE_RECORDS:
            page_ids += await db.write(_stage, request, unstaged, usage)
            unstaged = []
        if last:
            break
    return PageRef(page_ids[0], request.page_no, fetched, cursor, slow_down_ms,
                   page_ids if len(page_ids) > 1 else [])
