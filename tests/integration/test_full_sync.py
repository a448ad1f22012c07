"""Full and incremental syncs against the HubSpot sandbox end in the sandbox's exact state."""

from __future__ import annotations

from typing import Any


async def test_full_sync_equals_sandbox_and_rerun_changes_nothing(make_stack: Any) -> None:
    stack = make_stack(contacts=1200, invalid_contacts=7, seed=3)
    summary = await stack.sync()
    assert summary["upserted"] == 1200 - 7
    assert summary["rejected"] == 7
    stack.assert_destination_equals_sandbox()
    assert sorted(stack.rejected()) == sorted(stack.sandbox.invalid_ids())
    before = stack.destination()
    watermark = stack.state().watermark

    again = await stack.sync()
    assert stack.destination() == before  # not even synced_at moved
    assert stack.state().watermark == watermark
    assert again["rejected"] == 7 or again["fetched"] < summary["fetched"]
