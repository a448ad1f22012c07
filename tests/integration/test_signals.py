"""Operators steer a running sync: pause/resume between pages, backfill a past window."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import delete

from store.db import engine
from store.schema import contacts
from tests.support.stacks import wait_for_status


async def test_pause_holds_between_pages_and_resume_continues(make_stack: Any) -> None:
    stack = make_stack({"list_page_size": 10}, contacts=500, seed=21)
    handle = await stack.start()
    await wait_for_status(handle, lambda s: (s["window"] or {}).get("pages", 0) >= 2)
    await handle.signal("pause")
    paused = await wait_for_status(handle, lambda s: s["state"] == "paused")
    requests = stack.sandbox.stats["requests"]
    await asyncio.sleep(1.0)  # an observation period, not synchronisation
    still = await handle.query("status")
    assert still["state"] == "paused"
    assert still["window"]["pages"] == paused["window"]["pages"]
    assert stack.sandbox.stats["requests"] == requests
    await handle.signal("resume")
    await handle.result()
    stack.assert_destination_equals_sandbox()


async def test_backfill_resyncs_its_window_without_moving_the_watermark(make_stack: Any) -> None:
    stack = make_stack(contacts=400, seed=22)
    handle = await stack.start(every="1h")
    await wait_for_status(handle, lambda s: s["state"] == "sleeping")
    watermark = stack.state().watermark
    rows = sorted(stack.destination().values(), key=lambda r: r["source_updated_at"])
    since = rows[100]["source_updated_at"]
    until = rows[200]["source_updated_at"]
    lost = {r["external_id"] for r in rows if since <= r["source_updated_at"] < until}
    with engine().begin() as conn:  # lose part of the destination
        conn.execute(delete(contacts).where(contacts.c.external_id.in_(lost),
                                            contacts.c.connection == stack.connection))
    await handle.signal("backfill", {"since": since.isoformat() + "Z",
                                     "until": until.isoformat() + "Z"})
    await wait_for_status(handle, lambda s: s["state"] == "sleeping"
                          and (s["last_window"] or {}).get("kind") == "backfill")
    assert lost <= set(stack.destination())
    stack.assert_destination_equals_sandbox()
    assert stack.state().watermark == watermark


async def test_bad_backfill_signal_is_reported_not_fatal(make_stack: Any) -> None:
    stack = make_stack(contacts=50, seed=23)
    handle = await stack.start(every="1h")
    await wait_for_status(handle, lambda s: s["state"] == "sleeping")
    await handle.signal("backfill", {"since": "yesterday"})
    status = await wait_for_status(handle, lambda s: s["last_signal_error"] is not None)
    assert "since" in status["last_signal_error"]
    assert status["state"] == "sleeping"


async def test_backfill_longer_than_one_run_finishes_once(make_stack: Any) -> None:
    stack = make_stack({"search_page_size": 20, "pages_per_run": 3}, contacts=200, seed=24)
    handle = await stack.start(every="1h")
    await wait_for_status(handle, lambda s: s["state"] == "sleeping")
    await handle.signal("backfill", {"since": "2000-01-01T00:00:00Z"})
    status = await wait_for_status(
        handle, lambda s: s["state"] == "sleeping"
        and (s["last_window"] or {}).get("kind") == "backfill", timeout=120)
    assert status["pending_backfills"] == 0
    stack.assert_destination_equals_sandbox()
