"""The sync's durable steps as the workflow calls them: task queues, timeouts and retries, the
access token before provider calls (one refresh after a 401), and parking the stream until
`resume` when a step cannot go on."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import TypeVar

from temporalio import workflow
from temporalio.common import Priority, RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.associations import read_associations, reconcile_associations
    from activities.deletes import reconcile_deletes
    from activities.describe import describe_stream
    from activities.fetch import fetch_page
    from activities.models import (
        AssociationResult,
        AssociationTask,
        CommitRequest,
        CommitResult,
        DeletesRequest,
        DeletesResult,
        FetchRequest,
        PageRef,
        PageTask,
        StreamInfo,
        StreamRef,
        TokenRequest,
        TokenStatus,
        TransformResult,
        UpsertResult,
    )
    from activities.token import refresh_token
    from activities.transform import transform_page
    from activities.upsert import upsert_page
    from activities.watermark import commit_watermark
    from infra import times
    from workflows import names, pacing
    from workflows.inputs import DeletesPass, Slice, Window
    from workflows.progress import Progress, blocked_reason

# Retryable categories (server_error, timeout, conflict, rate_limited) back off exponentially,
# bounded at two minutes, for as long as it takes: an outage delays a sync, it never fails it.
# A 429 overrides the backoff with the provider's window through next_retry_delay.
RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=2),
    non_retryable_error_types=["auth_failure", "validation_error", "invalid_input"],
)
DB_TIMEOUT = timedelta(minutes=2)
PROVIDER_TIMEOUT = timedelta(seconds=90)
# Activities heartbeat every second (infra.heartbeat): a dead worker's attempt is retried
# after this, not after the whole start-to-close timeout.
HEARTBEAT_TIMEOUT = timedelta(seconds=5)

_Arg = TypeVar("_Arg")
_Result = TypeVar("_Result")


def now_ms() -> int:
    return times.to_ms(workflow.now())


async def describe(connection: str, stream: str) -> StreamInfo:
    """The stream's settings; an unknown connection or stream fails the workflow, saying why."""
    try:
        return await workflow.execute_activity(
            describe_stream, StreamRef(connection, stream), task_queue=names.DB_QUEUE,
            start_to_close_timeout=DB_TIMEOUT, retry_policy=RETRY,
            heartbeat_timeout=HEARTBEAT_TIMEOUT,
        )
    except ActivityError as err:
        # Say it on the workflow itself: the UI and `temporal workflow show` lead with it.
        cause = err.cause
        message = cause.message if isinstance(cause, ApplicationError) else str(err)
        raise ApplicationError(message, type="invalid_input", non_retryable=True) from err


class Steps:
    """One run's activity calls for one stream; `show` refreshes the Web UI's details."""

    def __init__(self, info: StreamInfo, progress: Progress, show: Callable[[], None]) -> None:
        self._info = info
        self._progress = progress
        self._show = show
        self._token: TokenStatus | None = None
        # Slices fetch at once; one of them refreshes the token while the others wait for it.
        self._token_lock = asyncio.Lock()
        self._paced_until: dict[str, float] = {}  # per fairness key, see pacing.pace

    # -- provider calls -------------------------------------------------------------------
    async def fetch(self, window: Window, part: Slice, page_no: int, delay_ms: int,
                    max_pages: int) -> PageRef:
        key, rate = pacing.rate_key(self._info, window.kind)
        paced = pacing.pace(rate, delay_ms, now_ms(), self._paced_until.get(key))
        if paced.paced_until is not None:
            self._paced_until[key] = paced.paced_until
        request = FetchRequest(self._info.connection, self._info.stream, window.window_id,
                               window.kind, part.start_ms, part.end_ms, page_no, part.cursor,
                               paced.delay_ms, paced.not_before_ms, max_pages)
        summary = (f"{window.kind} page {page_no}" if max_pages == 1
                   else f"{window.kind} pages from {page_no}")
        return await self._provider(fetch_page, request, window.kind, summary)

    async def deletes(self, run: DeletesPass, delay_ms: int, max_pages: int) -> DeletesResult:
        """The next pages of a deletes pass (the archived list counts against the
        connection's own budget, as full refreshes do)."""
        key, rate = pacing.rate_key(self._info, None)
        paced = pacing.pace(rate, delay_ms, now_ms(), self._paced_until.get(key))
        if paced.paced_until is not None:
            self._paced_until[key] = paced.paced_until
        not_before = (paced.not_before_ms if paced.not_before_ms is not None
                      else (now_ms() + paced.delay_ms if paced.delay_ms else None))
        request = DeletesRequest(self._info.connection, self._info.stream, run.started_ms,
                                 run.cursor, run.archived, max_pages, not_before)
        return await self._provider(reconcile_deletes, request, None,
                                    f"deletes pass page {run.pages}")

    async def associations(self, window: Window, page_ids: list[int]) -> None:
        """The associations of the records these upserted pages loaded, 100 at a time."""
        for to_type in self._info.associations:
            task = AssociationTask(self._info.connection, self._info.stream, window.window_id,
                                   page_ids, to_type)
            while True:
                result: AssociationResult = await self._provider(
                    read_associations, task, None, f"associations to {to_type}")
                if result.after is None:
                    break
                task.after = result.after

    async def reconcile_associations(self) -> None:
        """The periodic re-read of every record's associations (its cursor is in the database:
        a pass cut short by continue-as-new goes on in the next run)."""
        ref = StreamRef(self._info.connection, self._info.stream)
        while True:
            result: AssociationResult = await self._provider(
                reconcile_associations, ref, None, "reconcile associations")
            if result.after is None or workflow.info().is_continue_as_new_suggested():
                return

    async def _provider(self, fn: Callable[[_Arg], Awaitable[_Result]], request: _Arg,
                        kind: str | None, summary: str) -> _Result:
        """A provider call: the token first, one refresh after a 401, else park the stream."""
        refreshed_after_401 = False
        while True:
            await self._ensure_token()
            try:
                return await workflow.execute_activity(
                    fn, request, task_queue=names.provider_queue(self._info.provider),
                    start_to_close_timeout=PROVIDER_TIMEOUT, retry_policy=RETRY,
                    heartbeat_timeout=HEARTBEAT_TIMEOUT, priority=self._priority(kind),
                    summary=summary,
                )
            except ActivityError as err:
                cause = err.cause
                if (isinstance(cause, ApplicationError) and cause.type == "auth_failure"
                        and not refreshed_after_401):
                    # One refresh after a 401, then a person has to re-authorize.
                    refreshed_after_401 = True
                    version = (cause.details[0] or {}).get("credential_version") \
                        if cause.details else None
                    async with self._token_lock:
                        await self._refresh(stale_version=version if version is not None else -1)
                    continue
                await self._block(err)
                refreshed_after_401 = False

    async def _ensure_token(self) -> None:
        async with self._token_lock:
            due = None if self._token is None else \
                self._token.refresh_at_ms(self._info.refresh_margin_ms)
            if due is None or now_ms() >= due:
                await self._refresh(stale_version=None)

    async def _refresh(self, stale_version: int | None) -> None:
        request = TokenRequest(self._info.connection, self._info.stream, stale_version)
        while True:
            try:
                token = await workflow.execute_activity(
                    refresh_token, request, task_queue=names.provider_queue(self._info.provider),
                    start_to_close_timeout=PROVIDER_TIMEOUT, retry_policy=RETRY,
                    heartbeat_timeout=HEARTBEAT_TIMEOUT, priority=self._priority(),
                )
            except ActivityError as err:
                await self._block(err)
                continue
            self._token = token
            if token.refreshed:
                self._progress.totals["token_refreshes"] += 1
            return

    def _priority(self, kind: str | None = None) -> Priority:
        """The connection is the fairness key; its weight is its request rate (see names)."""
        key, rate = pacing.rate_key(self._info, kind)
        return Priority(fairness_key=key, fairness_weight=names.fairness_weight(rate))

    # -- database steps -------------------------------------------------------------------
    def _task(self, window: Window, page_ids: list[int]) -> PageTask:
        return PageTask(self._info.connection, self._info.stream, window.window_id, page_ids)

    async def transform(self, window: Window, page_ids: list[int]) -> None:
        result: TransformResult = await self._db(transform_page, self._task(window, page_ids))
        self._progress.transformed(window, result.rejected)

    async def upsert(self, window: Window, page_ids: list[int]) -> None:
        result: UpsertResult = await self._db(upsert_page, self._task(window, page_ids))
        self._progress.upserted(window, result.upserted)
        self._show()

    async def commit(self, window: Window) -> CommitResult:
        return await self._db(commit_watermark, CommitRequest(
            self._info.connection, self._info.stream, window.window_id, window.end_ms,
            advance_watermark=window.kind != "backfill"))

    async def _db(self, fn: Callable[[_Arg], Awaitable[_Result]], arg: _Arg) -> _Result:
        """A database step; a non-retryable failure waits for an operator instead of failing."""
        while True:
            try:
                return await workflow.execute_activity(
                    fn, arg, task_queue=names.DB_QUEUE, start_to_close_timeout=DB_TIMEOUT,
                    retry_policy=RETRY, heartbeat_timeout=HEARTBEAT_TIMEOUT,
                )
            except ActivityError as err:
                await self._block(err)

    # -- parking --------------------------------------------------------------------------
    async def _block(self, err: ActivityError) -> None:
        """Park the stream until `resume`; staged pages and the cursor stay as they are."""
        cause = err.cause
        category = cause.type if isinstance(cause, ApplicationError) else "error"
        message = cause.message if isinstance(cause, ApplicationError) else str(err)
        progress = self._progress
        progress.phase, progress.blocked = blocked_reason(category or "error", message)
        progress.blocked_since_ms = now_ms()
        workflow.logger.warning("stream blocked: %s", progress.blocked)
        self._show()
        await workflow.wait_condition(lambda: progress.blocked is None)
        progress.phase = "syncing"
        self._token = None  # credentials may have been replaced while we waited
