"""Windows the provider can bound in time are fetched as parallel slices, loaded in batches."""

from __future__ import annotations

from typing import Any

from tests.support.history import most_fetches_in_flight, runs_of


async def test_backfill_slices_run_in_parallel_and_survive_continue_as_new(
    make_stack: Any,
) -> None:
    # 500 records over ~8 months, 25 per search page, a new run every 6 pages.
    stack = make_stack({"search_page_size": 25, "pages_per_run": 6, "parallel_fetches": 4},
                       contacts=500, seed=41)
    handle = await stack.start(backfills=[{"since": "2020-01-01T00:00:00Z"}], cycle=False)
    summary = await handle.result()
    stack.assert_destination_equals_sandbox()
    assert summary["watermark_ms"] is None  # a backfill never moves the watermark
    histories = await runs_of(stack, handle)
    assert len(histories) > 2  # the window travelled across continue-as-new
    assert most_fetches_in_flight(histories[0]) == 4
    # Loading kept up: no run ended with pages fetched and not upserted.
    assert sum(summary[k] for k in ("upserted", "rejected")) == summary["fetched"]


async def test_an_ordinary_incremental_cycle_is_one_slice(make_stack: Any) -> None:
    stack = make_stack({"parallel_fetches": 4}, contacts=120, seed=42)
    stack.sandbox.modify_contacts(n=10)  # now: the watermark lands minutes ago, not months
    await stack.sync()
    stack.sandbox.modify_contacts(n=5)
    handle = await stack.start()
    summary = await handle.result()
    stack.assert_destination_equals_sandbox()
    assert summary["fetched"] >= 5
    # [watermark - lookback, now) is minutes long: splitting it would only multiply requests.
    assert most_fetches_in_flight(await handle.fetch_history()) == 1
