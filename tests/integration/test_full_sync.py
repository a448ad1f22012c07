"""Full and incremental syncs against the HubSpot sandbox end in the sandbox's exact state."""

from __future__ import annotations

from typing import Any


async def test_full_sync_equals_sandbox_and_rerun_changes_nothing(
    make_stack: Any, api_version: str
) -> None:
    stack = make_stack(api_version=api_version, contacts=1200, invalid_contacts=7, seed=3)
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


async def test_long_window_continues_as_new_and_resumes_in_place(make_stack: Any) -> None:
    stack = make_stack({"list_page_size": 10, "pages_per_run": 4}, contacts=130, seed=4)
    handle = await stack.start()
    summary = await handle.result()
    runs = [e async for e in stack.client.list_workflows(f"WorkflowId = '{stack.workflow_id}'")]
    assert len(runs) >= 130 // 10 // 4  # the window spanned several runs
    assert summary["upserted"] <= 130  # the last run's share; the whole is in the database
    stack.assert_destination_equals_sandbox()
    assert stack.state().records_synced == 130


async def test_search_attributes_find_a_connections_syncs(make_stack: Any) -> None:
    stack = make_stack(contacts=20)
    await stack.sync()
    query = f"TributaryConnection = '{stack.connection}' AND TributaryProvider = 'hubspot'"
    found = {e.id async for e in stack.client.list_workflows(query)}
    assert found == {stack.workflow_id}


async def test_staged_pages_are_dropped_once_the_window_commits(make_stack: Any) -> None:
    from sqlalchemy import func, select

    from store.db import engine
    from store.schema import staged_pages, transformed_pages, upserted_pages

    stack = make_stack(contacts=150, invalid_contacts=2)
    await stack.sync()
    with engine().connect() as conn:
        for table in (staged_pages, transformed_pages, upserted_pages):
            assert conn.execute(select(func.count()).select_from(table)).scalar() == 0
