"""StreamSync: one long-lived workflow per (connection, stream).

A cycle refreshes the token when needed, walks the window page by page (fetch -> transform ->
upsert, the next fetch running while the previous page is transformed and upserted), commits the
watermark once every page is upserted, sleeps until the next cycle and continues as new.

Each step lives in one module: the input and the state carried across continue-as-new in
workflows.inputs, window planning in workflows.windows, batching in workflows.batching, request
pacing in workflows.pacing, the status query and the Web UI's details in workflows.progress, and
the activity calls (token, 401, parking a failed stream) in workflows.steps.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from datetime import timedelta
from typing import Any, NoReturn

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.models import StreamInfo
    from workflows import deletes, names, pacing, progress, windows
    from workflows.batching import Walk, run_pages
    from workflows.inputs import (
        BACKFILL_EXAMPLE,
        EXAMPLE,
        DeletesPass,
        Slice,
        SyncInput,
        SyncState,
        Window,
        every_seconds,
        no_input,
        one_input,
        parse_backfill,
        parse_input,
    )
    from workflows.progress import Progress
    from workflows.steps import Steps, describe, now_ms


@workflow.defn(name=names.WORKFLOW_TYPE)
class StreamSync:
    def __init__(self) -> None:
        self._input: SyncInput | None = None
        self._state = SyncState()  # travels whole through continue-as-new
        self._progress = Progress()
        self._sync_now = False

    # -- signals and query ----------------------------------------------------------------
    # Each handler takes *args: Temporal calls it with whatever the sender passed (the CLI's
    # `signal` without --input passes nothing, two --input flags two), and a handler whose
    # signature does not fit raises inside the workflow task, failing it on every retry.
    @workflow.signal
    def pause(self, *args: Any) -> None:
        with self._signal("pause"):
            no_input("pause", args)
            self._state.paused = True
            self._show()

    @workflow.signal
    def resume(self, *args: Any) -> None:
        with self._signal("resume"):
            no_input("resume", args)
            self._state.paused = False
            self._progress.blocked = None
            self._show()

    @workflow.signal
    def sync_now(self, *args: Any) -> None:
        with self._signal("sync_now"):
            no_input("sync_now", args)
            self._sync_now = True

    @workflow.signal
    def backfill(self, *args: Any) -> None:
        with self._signal("backfill"):
            window = one_input("backfill", args, BACKFILL_EXAMPLE)
            self._state.backfills.append(parse_backfill(window, now_ms()))

    @contextlib.contextmanager
    def _signal(self, name: str) -> Iterator[None]:
        """A bad signal must not fail the sync: it is ignored, and the status says why."""
        try:
            yield
        except ValueError as exc:
            self._progress.last_signal_error = f"signal ignored: {exc}"
            workflow.logger.warning("ignored %s signal: %s", name, exc)

    @workflow.query
    def status(self) -> dict[str, Any]:
        return progress.status(self._input, self._state, self._progress)

    # -- main -----------------------------------------------------------------------------
    @workflow.run
    async def run(self, *args: Any) -> dict[str, Any]:
        try:  # *args: as the signals; `workflow start` without --input passes nothing
            inp = parse_input(one_input("StreamSync", args, EXAMPLE), now_ms())
        except ValueError as exc:
            raise ApplicationError(str(exc), type="invalid_input", non_retryable=True) from None
        self._input = inp
        # Signals may have arrived before the run began: they add to what the last run carried.
        state, carried = self._state, inp.state
        state.paused = state.paused or carried.paused
        state.backfills = list(inp.backfills) + list(carried.backfills) + state.backfills
        state.next_cycle_at_ms = carried.next_cycle_at_ms
        state.deletes = carried.deletes
        info = await describe(inp.connection, inp.stream)
        steps = Steps(info, self._progress, self._show)
        self._progress.watermark_ms = info.watermark_ms
        self._tag(info)
        wid = workflow.info().workflow_id

        cycle_due = state.next_cycle_at_ms is None or now_ms() >= state.next_cycle_at_ms
        if carried.window is not None:  # a window interrupted by continue-as-new
            await self._run_window(steps, info, carried.window)
            cycle_due = False
            if carried.window.kind != "backfill":  # that was the cycle's window
                await self._deletes_if_due(steps, info)
        if state.deletes is not None:  # a deletes pass interrupted by continue-as-new
            await self._reconcile_deletes(steps, info)
            cycle_due = False
        await self._run_backfills(steps, info)
        if inp.cycle and (cycle_due or self._sync_now):
            self._sync_now = False
            window = windows.cycle_window(wid, info, self._progress.watermark_ms,
                                          inp.full_refresh, now_ms())
            await self._run_window(steps, info, window)
            await self._deletes_if_due(steps, info)
            if info.reconcile_associations:
                await steps.reconcile_associations()

        if inp.every is None:
            # One cycle only (or a schedule's run): a backfill signalled meanwhile runs now.
            await self._run_backfills(steps, info)
            self._progress.phase = "completed"
            self._show()
            return {"connection": inp.connection, "stream": inp.stream,
                    "watermark_ms": self._progress.watermark_ms, **self._progress.totals}
        next_at = (state.next_cycle_at_ms if not cycle_due and state.next_cycle_at_ms
                   else now_ms() + every_seconds(inp.every) * 1000)
        self._progress.phase = "sleeping"
        self._show(f"next cycle in {max(next_at - now_ms(), 0) // 1000}s "
                   "(signal `sync_now` to start it now)")
        with contextlib.suppress(TimeoutError):
            await workflow.wait_condition(
                lambda: self._sync_now or bool(state.backfills),
                timeout=timedelta(milliseconds=max(next_at - now_ms(), 0)),
            )
        state.next_cycle_at_ms = now_ms() if self._sync_now else next_at
        self._continue_as_new()

    # -- windows --------------------------------------------------------------------------
    async def _run_backfills(self, steps: Steps, info: StreamInfo) -> None:
        wid = workflow.info().workflow_id
        while self._state.backfills:
            # Off the list before it runs: a window cut by continue-as-new travels as state.window.
            request = self._state.backfills.pop(0)
            await self._run_window(steps, info, windows.backfill_window(wid, request, now_ms()))

    async def _run_window(self, steps: Steps, info: StreamInfo, window: Window) -> None:
        self._state.window = window
        self._progress.phase = "syncing"
        self._show()
        await self._walk(steps, info, window)
        self._progress.committed(window, await steps.commit(window))
        self._state.window = None

    async def _walk(self, steps: Steps, info: StreamInfo, window: Window) -> None:
        """Fetch every slice of the window at once; load fetched pages in batches meanwhile.

        Where the connection has a request rate each fetch is one provider call, which the
        server paces; where it has none a fetch walks a run of pages. Transform and upsert take
        whatever pages are ready, up to a batch, so their cost per page shrinks as fetching
        speeds up; a batch is transformed while the one before is upserted. At a
        continue-as-new point fetching stops, the loader drains, and the window travels on with
        each slice's cursor.
        """
        if not window.slices:
            window.slices = windows.plan_slices(window, info)
        walk = Walk()
        pages = run_pages(pacing.rate_key(info, window.kind)[1])

        async def fetch_slice(part: Slice) -> None:
            delay_ms = 0
            while not part.done and not walk.draining:
                await self._wait_while_paused()
                await workflow.wait_condition(lambda: walk.draining or walk.may_fetch())
                if walk.draining:
                    return
                page_no = window.page_no
                window.page_no += pages
                ref = await steps.fetch(window, part, page_no, delay_ms, pages)
                part.cursor = ref.next_cursor
                part.done = ref.next_cursor is None
                self._progress.fetched(window, ref)
                walk.ready.append(ref)
                self._show()
                delay_ms = 0
                if self._should_continue_as_new(info):
                    walk.draining = True
                    continue
                timer_ms, delay_ms = pacing.wait_after_fetch(ref.slow_down_ms)
                if timer_ms:
                    await workflow.sleep(timedelta(milliseconds=timer_ms))

        async def load() -> None:
            upserting: asyncio.Future[None] | None = None
            while True:
                # Full batches while pages keep coming: each activity costs the same whatever
                # its size, so fewer and larger ones leave more time for fetching.
                await workflow.wait_condition(lambda: walk.batch_ready() or not walk.fetching)
                if not walk.ready:
                    break
                page_ids = walk.take_batch()
                if not page_ids:
                    continue
                # The upsert mostly waits for the database, the transform is the worker's
                # own work: side by side they use both.
                await steps.transform(window, page_ids)
                if upserting is not None:
                    await upserting
                upserting = asyncio.ensure_future(self._load(steps, info, window, page_ids))
            if upserting is not None:
                await upserting

        loader = asyncio.ensure_future(load())
        await asyncio.gather(*(fetch_slice(p) for p in window.slices if not p.done))
        walk.fetching = False
        await loader
        if not all(p.done for p in window.slices):
            self._continue_as_new()

    async def _deletes_if_due(self, steps: Steps, info: StreamInfo) -> None:
        """After a cycle's window: a deletes pass, once deletes_every has passed."""
        if deletes.due(info, now_ms()):
            self._state.deletes = DeletesPass(started_ms=now_ms())
            await self._reconcile_deletes(steps, info)

    async def _reconcile_deletes(self, steps: Steps, info: StreamInfo) -> None:
        """Walk the provider's archived records, soft-deleting their rows page by page; the
        pass's last page records it (delete_passes), which makes the next one due later."""
        run = self._state.deletes
        assert run is not None
        self._progress.phase = "reconciling deletes"
        self._show()
        pages_this_run, delay_ms = 0, 0
        max_pages = run_pages(pacing.rate_key(info, None)[1])
        while True:
            await self._wait_while_paused()
            result = await steps.deletes(run, delay_ms, max_pages)
            run.cursor = result.next_cursor
            run.pages += result.pages
            run.seen += result.seen
            run.archived += result.archived
            pages_this_run += result.pages
            if run.cursor is None:
                break
            if (pages_this_run >= info.pages_per_run
                    or workflow.info().is_continue_as_new_suggested()):
                self._continue_as_new()
            timer_ms, delay_ms = pacing.wait_after_fetch(result.slow_down_ms)
            if timer_ms:
                await workflow.sleep(timedelta(milliseconds=timer_ms))
        self._progress.last_deletes = {"started_ms": run.started_ms, "pages": run.pages,
                                       "seen": run.seen, "archived": run.archived}
        self._state.deletes = None

    async def _load(self, steps: Steps, info: StreamInfo, window: Window,
                    page_ids: list[int]) -> None:
        """Upsert a batch, then read its records' associations (HubSpot): provider calls, so
        not while paused (the fetches show the pause)."""
        await steps.upsert(window, page_ids)
        if info.associations:
            await workflow.wait_condition(lambda: not self._state.paused)
            await steps.associations(window, page_ids)

    async def _wait_while_paused(self) -> None:
        if self._state.paused:
            previous, self._progress.phase = self._progress.phase, "paused"
            self._show()
            await workflow.wait_condition(lambda: not self._state.paused)
            self._progress.phase = previous
            self._show()

    def _should_continue_as_new(self, info: StreamInfo) -> bool:
        # Keep each run's history small whatever the server suggests.
        return (self._progress.totals["pages"] >= info.pages_per_run
                or workflow.info().is_continue_as_new_suggested())

    def _continue_as_new(self) -> NoReturn:
        """The next run starts from the same input and this run's state, whole."""
        assert self._input is not None
        carried = self._input.model_copy(update={"backfills": [], "state": self._state})
        workflow.continue_as_new(carried.model_dump(mode="json", exclude_defaults=True))

    # -- presentation ---------------------------------------------------------------------
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
        workflow.set_current_details(progress.details(self._state, self._progress, extra))
