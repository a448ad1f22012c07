"""HubSpot deletes: records archived, merged and restored upstream end so in the destination.

A deletes pass is due `deletes_every_s` after the last one started (delete_passes, read when a
run begins). Tests make one due by moving that start back by `deletes_every_s`, which is what
the passing of that time looks like to the sync: no sleeps, no test-only setting.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from infra.times import from_ms
from sandbox import hubspot_archive
from starter.status import collect
from store.db import engine
from store.schema import delete_passes
from tests.support.deletes import elapse
from tests.support.expected import utc
from tests.support.stacks import Stack, wait_for_status

EVERY_S = 60  # the shortest deletes_every


def _elapse(stack: Stack) -> None:
    elapse(stack, EVERY_S)


def _last_pass(stack: Stack) -> Any:
    with engine().connect() as conn:
        return conn.execute(select(delete_passes).where(
            delete_passes.c.connection == stack.connection)).one_or_none()


def _archived(stack: Stack) -> set[str]:
    return {i for i, row in stack.destination().items() if row["archived"]}


def _assert_live_rows_equal_sandbox(stack: Stack) -> None:
    """Every live sandbox record is a live row as expected; every other row is archived."""
    expected, actual = stack.expected(), stack.destination()
    assert set(expected) <= set(actual)
    for external_id, row in expected.items():
        assert {k: actual[external_id][k] for k in row} == row, external_id
    assert set(actual) - set(expected) == _archived(stack)


async def _cycle(stack: Stack, handle: Any, previous: dict[str, Any]) -> dict[str, Any]:
    """Signal `sync_now` and wait for that cycle (its window and any deletes pass) to end."""
    end = previous["last_window"]["end_ms"]
    await handle.signal("sync_now")
    return await wait_for_status(handle, lambda s: s["state"] == "sleeping"
                                 and (s["last_window"] or {}).get("end_ms", 0) > end)


async def test_records_archived_mid_sync_end_archived_within_one_deletes_every(
        make_stack: Any) -> None:
    stack = make_stack({"deletes_every_s": EVERY_S, "list_page_size": 20}, contacts=300, seed=41)
    handle = await stack.start(every="1h")
    # Archived while the first full refresh walks the list: some already fetched, some not.
    await wait_for_status(handle, lambda s: (s["window"] or {}).get("pages", 0) >= 3)
    during = [str(i) for i in (1001, 1002, 1003, 1290, 1291)]
    hubspot_archive.archive(stack.sandbox, "contacts", during)
    status = await wait_for_status(handle, lambda s: s["state"] == "sleeping")
    # The first pass runs with the first cycle (never ran: due): every archived record that
    # had reached the destination (1290 and 1291 were, most likely, not fetched yet).
    assert status["last_deletes"]["seen"] == len(during)
    first = _archived(stack)
    assert {"1001", "1002", "1003"} <= first == set(during) & set(stack.destination())
    _assert_live_rows_equal_sandbox(stack)

    # Archived after: a cycle within deletes_every does not look (no archived list request)...
    later = ["1010", "1011"]
    hubspot_archive.archive(stack.sandbox, "contacts", later)
    lists, total = len(_lists(stack)), len(stack.server.requests)
    status = await _cycle(stack, handle, status)
    assert status["last_deletes"] is None
    assert len(_lists(stack)) == lists
    not_due = len(stack.server.requests) - total
    assert _archived(stack) == first
    # ...and the first cycle once it has passed archives them.
    _elapse(stack)
    lists, total = len(_lists(stack)), len(stack.server.requests)
    status = await _cycle(stack, handle, status)
    assert status["last_deletes"]["archived"] == len(later)
    assert len(_lists(stack)) == lists + 1  # seven archived: one page
    due = len(stack.server.requests) - total
    assert _archived(stack) == first | set(later)
    _assert_live_rows_equal_sandbox(stack)
    passed = _last_pass(stack)
    assert (passed.archived_count, passed.archived_total) == (2, len(first) + 2)
    print(f"requests per no-change cycle: {not_due} (deletes not due), {due} (deletes due)")


async def test_a_merge_archives_the_loser_and_keeps_the_winner(make_stack: Any) -> None:
    stack = make_stack({"deletes_every_s": EVERY_S}, contacts=120, seed=42)
    await stack.sync()
    merged_ms = hubspot_archive.merge(stack.sandbox, "contacts", "1005", "1006")
    _elapse(stack)
    await stack.sync()
    rows = stack.destination()
    assert rows["1006"]["archived"] and rows["1006"]["source_updated_at"] == from_ms(merged_ms)
    assert not rows["1005"]["archived"]
    assert _archived(stack) == {"1006"}
    _assert_live_rows_equal_sandbox(stack)
    rows, _ = await collect(target="127.0.0.1:1")  # status --json, the database's view
    row = next(r for r in rows if (r["connection"], r["stream"]) == (stack.connection,
                                                                     "contacts"))
    assert (row["deletes_archived_last"], row["deletes_archived_total"]) == (1, 1)
    assert row["deletes_reconciled_at"] == _last_pass(stack).last_run_at.isoformat() + "+00:00"


async def test_a_restore_is_live_again_on_its_next_update_never_through_an_older_version(
        make_stack: Any) -> None:
    stack = make_stack({"deletes_every_s": EVERY_S}, contacts=120, seed=43)
    await stack.sync()
    archived_ms = hubspot_archive.archive(stack.sandbox, "contacts", ["1007"])
    _elapse(stack)
    await stack.sync()
    assert _archived(stack) == {"1007"}

    hubspot_archive.restore(stack.sandbox, "contacts", ["1007"])
    # The restored record comes back with the version it had before the archive, older than
    # the archive: a full refresh reads it, and the row stays archived.
    restored = next(r for r in stack.sandbox.records() if r["id"] == "1007")
    assert utc(restored["properties"]["lastmodifieddate"]) < from_ms(archived_ms)
    summary = await stack.sync(full_refresh=True)
    assert summary["upserted"] >= 120
    assert _archived(stack) == {"1007"}

    stack.sandbox.modify_contacts(["1007"])  # its next update: newer than the archive
    await stack.sync()
    assert _archived(stack) == set()
    stack.assert_destination_equals_sandbox()


async def test_streams_of_other_providers_make_no_deletes_pass(rest_stack: Any) -> None:
    stack = rest_stack("hubspot", contacts=30, seed=44)
    await stack.sync()
    assert _last_pass(stack) is None


def _lists(stack: Any) -> list[Any]:
    """Requests to the contacts list endpoint (where a deletes pass reads archived records)."""
    return stack.provider_requests(stack.hubspot_paths.objects("contacts"))
