"""Incremental windows: exactly the changed records, ties on one millisecond, the 10,000 cap;
on both HubSpot API versions (`api_version`, tests/conftest.py)."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

from store.db import engine
from store.schema import stream_state


def _set_watermark(stack: Any, value: datetime) -> None:
    """A stream that last synced at `value` (e.g. before every sandbox record existed)."""
    with engine().begin() as conn:
        conn.execute(stream_state.insert().values(
            connection=stack.connection, stream="contacts", watermark=value,
            records_synced=0, retries=0, errors_by_category={},
        ))


def _changed(before: dict[str, Any], after: dict[str, Any]) -> set[str]:
    return {key for key, row in after.items() if before.get(key) != row}


async def test_incremental_picks_up_exactly_the_modified_records(
    make_stack: Any, api_version: str
) -> None:
    stack = make_stack({"lookback_s": 0}, api_version=api_version, contacts=800, seed=5)
    await stack.sync()
    before = stack.destination()
    modified = set(stack.sandbox.modify_contacts(n=37))
    created = set(stack.sandbox.create_contacts(5))

    summary = await stack.sync()
    after = stack.destination()
    assert _changed(before, after) == modified | created
    stack.assert_destination_equals_sandbox()
    # Only the window since the watermark was read: the changes, plus the records sharing the
    # watermark's own millisecond (the window starts at it, inclusive).
    assert len(modified | created) <= summary["fetched"] <= len(modified | created) + 60


async def test_records_sharing_one_timestamp_across_pages_all_arrive(
    make_stack: Any, api_version: str
) -> None:
    stack = make_stack({"search_page_size": 50}, api_version=api_version, contacts=100, seed=6)
    await stack.sync()
    tied_ms = int(time.time() * 1000) - 60_000  # after every seeded record, before now
    tied = stack.sandbox.create_contacts(300, lastmodified_ms=tied_ms)
    # A few before and after the tie, so pages mix the tie with other timestamps too.
    around = stack.sandbox.create_contacts(30, lastmodified_ms=tied_ms - 1)
    around += stack.sandbox.create_contacts(30, lastmodified_ms=tied_ms + 1)

    summary = await stack.sync()
    destination = stack.destination()
    assert set(tied) | set(around) <= set(destination)
    assert summary["pages"] >= 360 // 50  # the tie really crossed page boundaries
    stack.assert_destination_equals_sandbox()


async def test_window_larger_than_the_search_cap_loses_nothing(
    make_stack: Any, api_version: str
) -> None:
    # The search endpoint answers 400 past 10,000 results of one query; keyset paging
    # re-queries from the last timestamp/id seen so a larger window never gets there.
    stack = make_stack(api_version=api_version, contacts=10_150, seed=7)
    _set_watermark(stack, datetime(2000, 1, 1))
    summary = await stack.sync()
    assert summary["upserted"] >= 10_150
    stack.assert_destination_equals_sandbox()
    assert stack.sandbox.stats["statuses"].get("400", 0) == 0
