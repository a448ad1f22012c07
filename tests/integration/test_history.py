"""Workflow history: no secrets and no record bodies in it, and it replays deterministically."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from sandbox import hubspot_archive
from store import vault
from store.db import engine
from tests.support.deletes import elapse
from tests.support.history import readable, runs_of
from tests.support.stacks import wait_for_status
from workflows.stream_sync import StreamSync

HISTORIES = Path(__file__).resolve().parent.parent / "histories"


def _record(name: str, histories: list[WorkflowHistory]) -> None:
    """RECORD_HISTORIES=1 saves these runs for test_saved_history_replays (see docs/DESIGN.md)."""
    if os.environ.get("RECORD_HISTORIES"):
        for n, history in enumerate(histories):
            (HISTORIES / f"{name}_{n}.json").write_text(history.to_json())


async def _eventful_sync(stack: Any) -> Any:
    """A sync that refreshes, retries, pauses, backfills and continues as new."""
    handle = await stack.start(every="1h")
    await wait_for_status(handle, lambda s: (s["window"] or {}).get("pages", 0) >= 2)
    stack.sandbox.expire_access_tokens()
    stack.sandbox.inject("rate_limit", count=1, retry_after=0.1)
    stack.sandbox.inject("server_error", count=1)
    await handle.signal("pause")
    await wait_for_status(handle, lambda s: s["state"] == "paused")
    await handle.signal("resume")
    await wait_for_status(handle, lambda s: s["state"] == "sleeping")
    await handle.signal("backfill", {"since": "2025-01-01T00:00:00Z"})
    await wait_for_status(handle, lambda s: s["state"] == "sleeping"
                          and (s["last_window"] or {}).get("kind") == "backfill")
    return handle


async def test_history_holds_no_secrets_or_record_bodies(make_stack: Any) -> None:
    # 30 pages: still syncing when the token expires and the faults land after page 2.
    stack = make_stack({"list_page_size": 20}, contacts=600, invalid_contacts=3, seed=31)
    handle = await _eventful_sync(stack)
    first_run = stack.client.get_workflow_handle(stack.workflow_id,
                                                 run_id=handle.first_execution_run_id)
    histories = [await first_run.fetch_history(), await handle.fetch_history()]
    text = "\n".join(readable(h) for h in histories)  # payloads decoded
    with engine().connect() as conn:
        secrets = vault.load(conn, stack.connection).secrets
    forbidden = [secrets.client_secret, secrets.refresh_token, secrets.access_token]
    for record in stack.sandbox.records("contacts"):
        props = record["properties"]
        forbidden += [v for k, v in props.items() if k in ("email", "phone") and v]
    leaked = [value for value in forbidden if value and value in text]
    assert not leaked, f"{len(leaked)} secret or record values in history, e.g. {leaked[:1]}"
    # And the history is really the eventful one.
    assert "fetch_page" in text and "backfill" in text and "auth_failure" in text

    replayer = Replayer(workflows=[StreamSync])
    for history in histories:
        await replayer.replay_workflow(history)
    _record("stream_sync", histories)


async def test_sliced_window_across_continue_as_new_replays(make_stack: Any) -> None:
    """A window fetched as parallel slices, cut by continue-as-new and resumed from the state."""
    stack = make_stack({"search_page_size": 25, "pages_per_run": 6, "parallel_fetches": 4},
                       contacts=200, seed=43)
    handle = await stack.start(backfills=[{"since": "2020-01-01T00:00:00Z"}], cycle=False)
    await handle.result()
    histories = await runs_of(stack, handle)
    assert len(histories) > 2  # the first run cut the window, the second carried it on
    replayer = Replayer(workflows=[StreamSync])
    for history in histories:
        await replayer.replay_workflow(history)
    _record("stream_sync_sliced_window", histories[:2])


async def test_deletes_pass_across_continue_as_new_replays(make_stack: Any) -> None:
    """A deletes pass longer than a run's pages, carried in the state to the next run."""
    stack = make_stack({"list_page_size": 5, "pages_per_run": 3, "deletes_every_s": 60},
                       contacts=40, seed=45)
    await stack.sync()
    archived = [str(i) for i in range(1001, 1021)]  # four pages of five
    hubspot_archive.archive(stack.sandbox, "contacts", archived)
    elapse(stack, 60)
    handle = await stack.start()
    await handle.result()
    histories = await runs_of(stack, handle)
    assert len(histories) >= 2  # the pass was cut after three pages and carried on
    assert {i for i, row in stack.destination().items() if row["archived"]} == set(archived)
    replayer = Replayer(workflows=[StreamSync])
    for history in histories:
        await replayer.replay_workflow(history)
    _record("stream_sync_deletes", histories[:2])


@pytest.mark.parametrize("path", sorted(HISTORIES.glob("*.json")), ids=lambda p: p.name)
async def test_saved_history_replays(path: Path) -> None:
    history = WorkflowHistory.from_json("saved", path.read_text())
    await Replayer(workflows=[StreamSync]).replay_workflow(history)
