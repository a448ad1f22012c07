"""Companies and deals beside contacts, on both HubSpot API versions: each stream's full sync
equals the sandbox, incremental windows pick up exactly what changed (ties included), and a
cycle with nothing changed costs one search request (four for a stale watermark)."""

from __future__ import annotations

import time
from typing import Any

from connectors.hubspot_api import ASSOCIATED

STREAMS = ("contacts", "companies", "deals")
COUNTS = {"contacts": 150, "companies": 260, "deals": 330}


def _api_paths(stack: Any, since: int = 0) -> list[str]:
    """The object paths the sandbox served since request number `since` (not the token's, the
    hourly properties read or the associations of the records)."""
    return [path for _, path in stack.server.requests[since:]
            if path.startswith("/crm/") and "/objects" in path]


def _changed(before: dict[str, Any], after: dict[str, Any]) -> set[str]:
    return {key for key, row in after.items() if before.get(key) != row}


async def test_each_objects_full_sync_equals_sandbox(make_stack: Any, api_version: str) -> None:
    stack = make_stack(api_version=api_version, invalid_contacts=4, seed=11, **COUNTS)
    paths = stack.hubspot_paths
    for stream in STREAMS:
        since = len(stack.server.requests)
        summary = await stack.sync(stream)
        rejected = 4 if stream == "contacts" else 0
        assert (summary["upserted"], summary["rejected"]) == (COUNTS[stream] - rejected, rejected)
        stack.assert_destination_equals_sandbox(stream)
        # A full refresh walks the list endpoint of the connection's version, 100 a page; then
        # the stream's first deletes pass reads its (empty) archived list there too.
        pages = -(-COUNTS[stream] // 100)
        assert _api_paths(stack, since) == [paths.objects(stream)] * (pages + 1)
    # Nothing reached another version's paths, nor another stream's table.
    prefix = "/crm/v3/objects/" if api_version == "v3" else "/crm/objects/2026-03/"
    assert all(path.startswith(prefix) for path in _api_paths(stack))
    assert {len(stack.destination(s)) for s in ("companies", "deals")} == {260, 330}


async def test_companies_and_deals_incremental_picks_up_exactly_the_changes(
    make_stack: Any, api_version: str
) -> None:
    stack = make_stack({"lookback_s": 0}, api_version=api_version, contacts=0, companies=300,
                       deals=300, seed=12)
    for stream in ("companies", "deals"):
        await stack.sync(stream)
        before = stack.destination(stream)
        modified = set(stack.sandbox.modify_objects(stream, n=23))
        created = set(stack.sandbox.create_objects(stream, 4))

        summary = await stack.sync(stream)
        assert _changed(before, stack.destination(stream)) == modified | created
        stack.assert_destination_equals_sandbox(stream)
        # The window since the watermark: the changes, plus the records sharing the watermark's
        # own millisecond (the window starts at it; the sandbox's tie groups hold at most 50).
        assert len(modified | created) <= summary["fetched"] <= len(modified | created) + 50
        assert stack.state(stream).watermark is not None


async def test_a_companies_backfill_walks_the_search_keyset(
    make_stack: Any, api_version: str
) -> None:
    stack = make_stack({"search_page_size": 30, "parallel_fetches": 3}, api_version=api_version,
                       contacts=0, companies=250, seed=15)
    handle = await stack.start("companies", backfills=[{"since": "2024-06-01T00:00:00Z"}],
                               cycle=False)
    await handle.result()
    stack.assert_destination_equals_sandbox("companies")
    # Sliced windows of the search, never the list endpoint (which cannot bound a time range).
    paths = set(_api_paths(stack))
    assert paths == {stack.hubspot_paths.search("companies")}
    assert len(_api_paths(stack)) >= 250 // 30


async def test_deals_sharing_one_timestamp_across_pages_all_arrive(
    make_stack: Any, api_version: str
) -> None:
    stack = make_stack({"search_page_size": 40}, api_version=api_version, contacts=0, deals=60,
                       seed=13)
    await stack.sync("deals")
    tied_ms = int(time.time() * 1000) - 60_000  # after every seeded deal, before now
    tied = stack.sandbox.create_objects("deals", 130, lastmodified_ms=tied_ms)
    around = stack.sandbox.create_objects("deals", 15, lastmodified_ms=tied_ms - 1)
    around += stack.sandbox.create_objects("deals", 15, lastmodified_ms=tied_ms + 1)

    summary = await stack.sync("deals")
    assert set(tied) | set(around) <= set(stack.destination("deals"))
    assert summary["pages"] >= 160 // 40  # the tie crossed page boundaries
    stack.assert_destination_equals_sandbox("deals")
    assert stack.sandbox.stats["statuses"].get("400", 0) == 0


async def _quiet_cycle(stack: Any, stream: str) -> list[str]:
    """Every request (token refreshes included) of one incremental cycle with nothing changed,
    but the association reads of the records its lookback re-read (one per associated type and
    loaded batch, only from this stream's records)."""
    before, since = stack.destination(stream), len(stack.server.requests)
    await stack.sync(stream)
    assert stack.destination(stream) == before
    paths = [path for _, path in stack.server.requests[since:]]
    reads = [path for path in paths if path.endswith("/batch/read")]
    associated = {stack.hubspot_paths.associations_batch_read(stream, to_type)
                  for to_type in ASSOCIATED[stream]}
    assert set(reads) <= associated
    return [path for path in paths if path not in associated]


async def test_a_no_change_incremental_cycle_is_one_search_per_stream(
    make_stack: Any, api_version: str
) -> None:
    stack = make_stack(api_version=api_version, contacts=120, companies=120, deals=120, seed=14)
    search = stack.hubspot_paths.search
    for stream in STREAMS:
        await stack.sync(stream)  # full refresh: the newest record is months old
        # A window longer than 8 hours is cut into `parallel_fetches` (4) slices, one search each.
        assert await _quiet_cycle(stack, stream) == [search(stream)] * 4
        stack.sandbox.modify_objects(stream, n=1)
        await stack.sync(stream)  # the watermark is now the change's, seconds ago
        # An ordinary cycle: one search, no list, properties or token call.
        assert await _quiet_cycle(stack, stream) == [search(stream)]
