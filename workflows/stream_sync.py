"""StreamSync: one long-lived workflow per (connection, stream).

A cycle refreshes the token when needed, walks the window page by page (fetch -> transform ->
upsert, the next fetch running while the previous page is transformed and upserted), commits the
watermark once every page is upserted, sleeps until the next cycle and continues as new.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import Priority, RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.describe import describe_stream
    from activities.fetch import fetch_page
    from activities.models import (
        CommitRequest,
        CommitResult,
        FetchRequest,
        PageRef,
        PageTask,
        StreamInfo,
        StreamRef,
        TokenRequest,
        TokenStatus,
    )
    from activities.token import refresh_token
    from activities.transform import transform_page
    from activities.upsert import upsert_page
    from activities.watermark import commit_watermark
    from workflows import names
    from workflows.inputs import (
        Backfill,
        Slice,
        SyncInput,
        Window,
        every_seconds,
        parse_backfill,
        parse_input,
    )

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
# Activities heartbeat every second (activities.heartbeat): a dead worker's attempt is retried
# after this, not after the whole start-to-close timeout.
HEARTBEAT_TIMEOUT = timedelta(seconds=5)
# Transform and upsert take up to this many fetched pages / records at a time.
BATCH_PAGES = 50
BATCH_RECORDS = 10_000
BATCH_RECORDS_BEFORE_PIPELINING = 5_000  # what workflows started before it replay
# A window shorter than two of these is not worth splitting (an ordinary incremental cycle).
MIN_SLICE_MS = 3_600_000
SLICED_WINDOWS = "sliced-windows"
# A connection without a request rate fetches runs of pages (FetchRequest.max_pages), since one
# activity per page would cost more than the page itself; and a batch is transformed while the
# previous one is upserted.
PIPELINED_WINDOWS = "pipelined-windows"
# Headroom waits up to this long happen inside the next fetch (a durable timer fires only to
# about the second); longer ones are timers, holding no worker slot.
SHORT_WAIT_MS = 2_000


@dataclass
class _Walk:
    """A window's fetched pages waiting to be loaded, shared by its slices and its loader."""

    batch_records: int = BATCH_RECORDS
    ready: list[PageRef] = field(default_factory=list)
    fetching: bool = True
    draining: bool = False  # stop fetching: this run continues as new

    def ready_records(self) -> int:
        return sum(r.fetched for r in self.ready)

    def batch_ready(self) -> bool:
        return (sum(len(r.page_ids()) for r in self.ready) >= BATCH_PAGES
                or self.ready_records() >= self.batch_records)

    def take_batch(self) -> list[int]:
        """The ids of the next batch's pages (a fetch's run of pages stays in one batch)."""
        batch = [self.ready.pop(0)]
        pages, records = len(batch[0].page_ids()), batch[0].fetched
        while self.ready:
            pages += len(self.ready[0].page_ids())
            records += self.ready[0].fetched
            if pages > BATCH_PAGES or records > self.batch_records:
                break
            batch.append(self.ready.pop(0))
        # A fetch that found nothing has nothing to load.
        return [page_id for ref in batch if ref.fetched for page_id in ref.page_ids()]


@workflow.defn(name=names.WORKFLOW_TYPE)
class StreamSync:
    def __init__(self) -> None:
        self._input: SyncInput | None = None
        self._info: StreamInfo | None = None
        self._paused = False
        self._sync_now = False
        self._blocked: str | None = None  # why the stream waits for `resume`
        self._blocked_since_ms: int | None = None
        self._backfills: list[Backfill] = []
        self._state = "starting"
        self._window: Window | None = None
        self._token: TokenStatus | None = None
        self._pages_this_run = 0
        self._totals = {"pages": 0, "fetched": 0, "upserted": 0, "rejected": 0,
                        "token_refreshes": 0}
        self._watermark_ms: int | None = None
        self._last_signal_error: str | None = None
        self._last_window: dict[str, Any] | None = None
        # Slices fetch at once; one of them refreshes the token while the others wait for it.
        self._token_lock = asyncio.Lock()
        self._paced_until: dict[str, float] = {}  # per fairness key, see _pace

    # -- signals and query ----------------------------------------------------------------
    @workflow.signal
    def pause(self) -> None:
        self._paused = True
        self._show()

    @workflow.signal
    def resume(self) -> None:
        self._paused = False
        self._blocked = None
        self._show()

    @workflow.signal
    def sync_now(self) -> None:
        self._sync_now = True

    @workflow.signal
    def backfill(self, window: Any) -> None:
        try:
            self._backfills.append(parse_backfill(window))
        except ValueError as exc:  # a bad signal must not fail the sync; say so in status
            self._last_signal_error = str(exc)
            workflow.logger.warning("ignored backfill signal: %s", exc)

    @workflow.query
    def status(self) -> dict[str, Any]:
        window = self._window
        return {
            "connection": self._input.connection if self._input else None,
            "stream": self._input.stream if self._input else None,
            "every": self._input.every if self._input else None,
            "state": self._state,
            "paused": self._paused,
            "blocked": self._blocked,
            "blocked_since_ms": self._blocked_since_ms if self._blocked else None,
            "window": None if window is None else {
                "kind": window.kind, "start_ms": window.start_ms, "end_ms": window.end_ms,
                "pages": window.pages, "fetched": window.fetched, "upserted": window.upserted,
                "rejected": window.rejected,
            },
            "last_window": self._last_window,
            "pending_backfills": len(self._backfills),
            "watermark_ms": self._watermark_ms,
            "this_run": dict(self._totals),
            "last_signal_error": self._last_signal_error,
        }

    # -- main -----------------------------------------------------------------------------
    @workflow.run
    async def run(self, params: Any) -> dict[str, Any]:
        try:
            inp = parse_input(params)
        except ValueError as exc:
            raise ApplicationError(str(exc), type="invalid_input", non_retryable=True) from None
        self._input = inp
        self._paused = self._paused or inp.paused
        self._backfills = list(inp.backfills) + self._backfills
        try:
            info = await workflow.execute_activity(
                describe_stream, StreamRef(inp.connection, inp.stream), task_queue=names.DB_QUEUE,
                start_to_close_timeout=DB_TIMEOUT, retry_policy=RETRY,
                heartbeat_timeout=HEARTBEAT_TIMEOUT,
            )
        except ActivityError as err:
            # Say it on the workflow itself: the UI and `temporal workflow show` lead with it.
            cause = err.cause
            message = cause.message if isinstance(cause, ApplicationError) else str(err)
            raise ApplicationError(message, type="invalid_input", non_retryable=True) from err
        self._info = info
        self._watermark_ms = info.watermark_ms
        self._tag(info)

        cycle_due = inp.next_cycle_at_ms is None or self._now_ms() >= inp.next_cycle_at_ms
        if inp.window is not None:  # a window interrupted by continue-as-new
            await self._run_window(inp.window)
            cycle_due = False
        while self._backfills:
            # Off the list before it runs: a window cut by continue-as-new travels as `window`.
            request = self._backfills.pop(0)
            end = request.until_ms or self._now_ms()
            await self._run_window(self._new_window("backfill", request.since_ms, end))
        if inp.cycle and (cycle_due or self._sync_now):
            self._sync_now = False
            await self._run_window(self._cycle_window(inp))

        summary = {"connection": inp.connection, "stream": inp.stream,
                   "watermark_ms": self._watermark_ms, **self._totals}
        if inp.every is None and not self._backfills:
            self._state = "completed"
            self._show()
            return summary
        next_at = (inp.next_cycle_at_ms if not cycle_due and inp.next_cycle_at_ms
                   else self._now_ms() + every_seconds(inp.every or "0s") * 1000)
        self._state = "sleeping"
        self._show(f"next cycle in {max(next_at - self._now_ms(), 0) // 1000}s "
                   "(signal `sync_now` to start it now)")
        with contextlib.suppress(TimeoutError):
            await workflow.wait_condition(
                lambda: self._sync_now or bool(self._backfills),
                timeout=timedelta(milliseconds=max(next_at - self._now_ms(), 0)),
            )
        if self._sync_now:
            next_at = self._now_ms()
        self._continue_as_new(inp, window=None, next_cycle_at_ms=next_at)
        raise AssertionError("unreachable")

    # -- windows --------------------------------------------------------------------------
    def _now_ms(self) -> int:
        return int(workflow.now().timestamp() * 1000)

    def _new_window(self, kind: str, start_ms: int | None, end_ms: int) -> Window:
        info = workflow.info()
        return Window(
            window_id=f"{info.workflow_id}/{kind}/{start_ms or 0}-{end_ms}",
            kind=kind, start_ms=start_ms, end_ms=end_ms,  # type: ignore[arg-type]
        )

    def _cycle_window(self, inp: SyncInput) -> Window:
        assert self._info is not None
        end = self._now_ms()
        if inp.full_refresh or self._watermark_ms is None:
            return self._new_window("full_refresh", self._info.start_ms, end)
        start = max(self._watermark_ms - self._info.lookback_ms, 0)
        return self._new_window("incremental", start, end)

    async def _run_window(self, window: Window) -> CommitResult:
        self._window = window
        self._state = "syncing"
        self._show()
        if workflow.patched(SLICED_WINDOWS):
            await self._walk_slices(window)
        else:
            await self._walk_sequentially(window)
        result: CommitResult = await self._activity(
            commit_watermark,
            CommitRequest(self._conn(), self._stream(), window.window_id, window.end_ms,
                          advance_watermark=window.kind != "backfill"),
        )
        if window.kind != "backfill":
            self._watermark_ms = result.watermark_ms
        self._last_window = {"kind": window.kind, "start_ms": window.start_ms,
                             "end_ms": window.end_ms, "pages": result.pages,
                             "upserted": result.upserted, "rejected": result.rejected}
        self._window = None
        return result

    async def _walk_slices(self, window: Window) -> None:
        """Fetch every slice of the window at once; load fetched pages in batches meanwhile.

        Where the connection has a request rate each fetch is one provider call, which the
        server paces; where it has none a fetch walks a run of pages. Transform and upsert take
        whatever pages are ready, up to a batch, so their cost per page shrinks as fetching
        speeds up; a batch is transformed while the one before is upserted. At a
        continue-as-new point fetching stops, the loader drains, and the window travels on with
        each slice's cursor.
        """
        if not window.slices:
            window.slices = self._slices(window)
        pipelined = workflow.patched(PIPELINED_WINDOWS)
        walk = _Walk(BATCH_RECORDS if pipelined else BATCH_RECORDS_BEFORE_PIPELINING)
        run_pages = 1 if not pipelined or self._rate_key(window.kind)[1] else BATCH_PAGES

        async def fetch_slice(part: Slice) -> None:
            delay_ms = 0
            while not part.done and not walk.draining:
                await self._wait_while_paused()
                await workflow.wait_condition(
                    lambda: walk.draining or walk.ready_records() < 2 * walk.batch_records)
                if walk.draining:
                    return
                page_no = window.page_no
                window.page_no += run_pages
                ref = await self._fetch(window, page_no, part.start_ms, part.end_ms, part.cursor,
                                        delay_ms, run_pages)
                part.cursor = ref.next_cursor
                part.done = ref.next_cursor is None
                self._count_fetched(window, ref)
                walk.ready.append(ref)
                self._show()
                delay_ms = 0
                if self._should_continue_as_new():
                    walk.draining = True
                elif ref.slow_down_ms > SHORT_WAIT_MS:
                    await workflow.sleep(timedelta(milliseconds=ref.slow_down_ms))
                else:  # timers fire to the second: the next fetch waits before its call
                    delay_ms = ref.slow_down_ms

        async def load() -> None:
            upserting: asyncio.Future[None] | None = None
            while True:
                # Full batches while pages keep coming: each activity costs the same whatever
                # its size, so fewer and larger ones leave more time for fetching.
                await workflow.wait_condition(lambda: walk.batch_ready() or not walk.fetching)
                if not walk.ready:
                    break
                task = self._page_task(window, walk.take_batch())
                if task is None:
                    continue
                if not pipelined:
                    await self._transform(window, task)
                    await self._upsert(window, task)
                    continue
                # The upsert mostly waits for the database, the transform is the worker's
                # own work: side by side they use both.
                await self._transform(window, task)
                if upserting is not None:
                    await upserting
                upserting = asyncio.ensure_future(self._upsert(window, task))
            if upserting is not None:
                await upserting

        loader = asyncio.ensure_future(load())
        await asyncio.gather(*(fetch_slice(p) for p in window.slices if not p.done))
        walk.fetching = False
        await loader
        if not all(p.done for p in window.slices):
            assert self._input is not None
            self._continue_as_new(self._input, window=window,
                                  next_cycle_at_ms=self._input.next_cycle_at_ms)

    def _slices(self, window: Window) -> list[Slice]:
        """Equal time slices when the connector can bound this window kind on the provider side."""
        assert self._info is not None
        start, end = window.start_ms, window.end_ms
        count = self._info.parallel_fetches
        if (start is None or window.kind not in self._info.sliceable_kinds
                or end - start < 2 * MIN_SLICE_MS):
            return [Slice(start_ms=start, end_ms=end)]
        count = min(count, (end - start) // MIN_SLICE_MS)
        # Whole seconds: providers that filter by the second (SOQL) see no overlap.
        bounds = [start] + [(start + (end - start) * i // count) // 1000 * 1000
                            for i in range(1, count)] + [end]
        return [Slice(start_ms=a, end_ms=b) for a, b in itertools.pairwise(bounds)]

    def _page_task(self, window: Window, page_ids: list[int]) -> PageTask | None:
        if not page_ids:
            return None
        return PageTask(self._conn(), self._stream(), window.window_id, page_ids)

    async def _transform(self, window: Window, task: PageTask) -> None:
        transformed = await self._activity(transform_page, task)
        window.rejected += transformed.rejected
        self._totals["rejected"] += transformed.rejected

    async def _upsert(self, window: Window, task: PageTask) -> None:
        upserted = await self._activity(upsert_page, task)
        window.upserted += upserted.upserted
        self._totals["upserted"] += upserted.upserted
        self._show()

    def _count_fetched(self, window: Window, ref: PageRef) -> None:
        pages = len(ref.page_ids())
        window.fetched += ref.fetched
        window.pages += pages
        self._totals["fetched"] += ref.fetched
        self._totals["pages"] += pages
        self._pages_this_run += pages

    async def _walk_sequentially(self, window: Window) -> None:
        """Workflows started before SLICED_WINDOWS replay this: one page after another."""
        ref = await self._fetch(window, window.page_no, window.start_ms, window.end_ms,
                                window.cursor)
        while True:
            await self._wait_while_paused()
            stop = self._should_continue_as_new()
            next_fetch: asyncio.Task[PageRef] | None = None
            if ref.next_cursor is not None and not stop:
                next_fetch = asyncio.ensure_future(self._fetch(
                    window, window.page_no + 1, window.start_ms, window.end_ms, ref.next_cursor))
            self._count_fetched(window, ref)
            task = self._page_task(window, [ref.page_id] if ref.fetched else [])
            if task is not None:
                await self._transform(window, task)
                await self._upsert(window, task)
            window.page_no += 1
            window.cursor = ref.next_cursor
            self._show()
            if ref.next_cursor is None:
                return
            if next_fetch is None:
                assert self._input is not None
                self._continue_as_new(self._input, window=window,
                                      next_cycle_at_ms=self._input.next_cycle_at_ms)
            ref = await next_fetch  # type: ignore[misc]

    # -- provider calls -------------------------------------------------------------------
    async def _fetch(
        self, window: Window, page_no: int, start_ms: int | None, end_ms: int,
        cursor: dict[str, Any] | None, delay_ms: int = 0, max_pages: int = 1,
    ) -> PageRef:
        assert self._info is not None
        delay_ms, not_before_ms = self._pace(window.kind, delay_ms)
        request = FetchRequest(self._conn(), self._stream(), window.window_id, window.kind,
                               start_ms, end_ms, page_no, cursor, delay_ms, not_before_ms,
                               max_pages)
        summary = (f"{window.kind} page {page_no}" if max_pages == 1
                   else f"{window.kind} pages from {page_no}")
        refreshed_after_401 = False
        while True:
            await self._ensure_token()
            try:
                return await workflow.execute_activity(
                    fetch_page, request, task_queue=names.provider_queue(self._info.provider),
                    start_to_close_timeout=PROVIDER_TIMEOUT, retry_policy=RETRY,
                    heartbeat_timeout=HEARTBEAT_TIMEOUT,
                    priority=self._provider_priority(window.kind),
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
        assert self._info is not None
        async with self._token_lock:
            token = self._token
            if (token is None or token.expires_at_ms is None
                    or self._now_ms() >= token.expires_at_ms - self._info.refresh_margin_ms):
                await self._refresh(stale_version=None)

    async def _refresh(self, stale_version: int | None) -> None:
        assert self._info is not None
        while True:
            try:
                self._token = await workflow.execute_activity(
                    refresh_token, TokenRequest(self._conn(), self._stream(), stale_version),
                    task_queue=names.provider_queue(self._info.provider),
                    start_to_close_timeout=PROVIDER_TIMEOUT, retry_policy=RETRY,
                    heartbeat_timeout=HEARTBEAT_TIMEOUT,
                    priority=self._provider_priority(),
                )
            except ActivityError as err:
                await self._block(err)
                continue
            if self._token.refreshed:
                self._totals["token_refreshes"] += 1
            return

    async def _activity(self, fn: Any, arg: Any) -> Any:
        """A database step; a non-retryable failure waits for an operator instead of failing."""
        while True:
            try:
                return await workflow.execute_activity(
                    fn, arg, task_queue=names.DB_QUEUE, start_to_close_timeout=DB_TIMEOUT,
                    retry_policy=RETRY, heartbeat_timeout=HEARTBEAT_TIMEOUT,
                )
            except ActivityError as err:
                await self._block(err)

    async def _block(self, err: ActivityError) -> None:
        """Park the stream until `resume`; staged pages and the cursor stay as they are."""
        cause = err.cause
        category = cause.type if isinstance(cause, ApplicationError) else "error"
        message = cause.message if isinstance(cause, ApplicationError) else str(err)
        if category == "auth_failure":
            self._state = "needs_reauthorization"
            self._blocked = (f"needs re-authorization: {message}. Update the credentials "
                             "(`python -m starter connection update`) then signal `resume`.")
        else:
            self._state = "blocked"
            # Activity messages already lead with their category.
            reason = message if message.startswith(category) else f"{category}: {message}"
            self._blocked = f"{reason}. Fix the cause, then signal `resume`."
        self._blocked_since_ms = self._now_ms()
        workflow.logger.warning("stream blocked: %s", self._blocked)
        self._show()
        await workflow.wait_condition(lambda: self._blocked is None)
        self._state = "syncing"
        self._token = None  # credentials may have been replaced while we waited

    async def _wait_while_paused(self) -> None:
        if self._paused:
            previous, self._state = self._state, "paused"
            self._show()
            await workflow.wait_condition(lambda: not self._paused)
            self._state = previous
            self._show()

    def _should_continue_as_new(self) -> bool:
        assert self._info is not None
        # Keep each run's history small whatever the server suggests.
        return (self._pages_this_run >= self._info.pages_per_run
                or workflow.info().is_continue_as_new_suggested())

    def _continue_as_new(
        self, inp: SyncInput, window: Window | None, next_cycle_at_ms: int | None
    ) -> None:
        carried = inp.model_copy(update={
            "paused": self._paused, "backfills": self._backfills, "window": window,
            "next_cycle_at_ms": next_cycle_at_ms,
        })
        workflow.continue_as_new(carried.model_dump(mode="json", exclude_defaults=True))

    def _provider_priority(self, kind: str | None = None) -> Priority:
        """The connection is the fairness key; its weight is its request rate (see names)."""
        key, rate = self._rate_key(kind)
        return Priority(fairness_key=key, fairness_weight=names.fairness_weight(rate))

    def _rate_key(self, kind: str | None) -> tuple[str, float | None]:
        """(fairness key, requests per second) of a window kind's requests: the connection's,
        or a key of their own for requests with a budget of their own (HubSpot's search)."""
        assert self._info is not None
        own = self._info.rate_keys.get(kind) if kind else None
        if own is not None:
            return f"{self._conn()}/{own.name}", own.requests_per_second
        return self._conn(), self._info.requests_per_second

    def _pace(self, kind: str, headroom_ms: int) -> tuple[int, int | None]:
        """(delay, not before) of the stream's next request: after any headroom wait, and one
        interval of the key's rate after the stream's previous request.

        The server enforces the rate, but a key that fell behind (a slow step, a headroom
        wait) may then catch up at once: the catch-up crowds the provider's rolling window,
        and one window later the stream must wait again. A stream that spaces its own requests
        never builds that credit. At most SHORT_WAIT_MS ahead: beyond, the server's pace holds.
        """
        key, rate = self._rate_key(kind)
        if not rate:
            return headroom_ms, None
        now = self._now_ms()
        at = max(now + headroom_ms, min(self._paced_until.get(key, 0.0), now + SHORT_WAIT_MS))
        self._paced_until[key] = at + 1000 / rate
        return int(at - now), int(at)

    # -- presentation ---------------------------------------------------------------------
    def _conn(self) -> str:
        assert self._input is not None
        return self._input.connection

    def _stream(self) -> str:
        assert self._input is not None
        return self._input.stream

    def _tag(self, info: StreamInfo) -> None:
        wanted = {
            names.CONNECTION: info.connection, names.STREAM: info.stream,
            names.PROVIDER: info.provider, names.TENANT: info.tenant,
        }
        current = workflow.info().typed_search_attributes
        updates = [key.value_set(value) for key, value in wanted.items()
                   if current.get(key) != value]
        if updates:
            workflow.upsert_search_attributes(updates)

    def _show(self, extra: str | None = None) -> None:
        """The workflow's current details in the Web UI: where the sync is and what it waits for."""
        lines = [f"**{self._state}**"]
        if self._blocked:
            since = datetime.fromtimestamp((self._blocked_since_ms or 0) / 1000, UTC)
            lines.append(f"{self._blocked} (stuck since {since.isoformat(timespec='seconds')})")
        if self._paused:
            lines.append("paused: signal `resume` to continue")
        if self._window is not None:
            w = self._window
            lines.append(f"{w.kind} window, {w.pages} pages: {w.fetched} fetched, "
                         f"{w.upserted} upserted, {w.rejected} rejected")
        if extra:
            lines.append(extra)
        workflow.set_current_details("\n\n".join(lines))
