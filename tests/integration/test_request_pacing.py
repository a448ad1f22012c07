"""A stream spaces its own requests at its connection's rate, on top of the server's limit.

The server enforces the rate but lets a key that fell behind catch up in a burst, which crowds
the provider's rolling window; the workflow gives every fetch a "not before" one interval after
the previous one, so a stream never builds that credit.
"""

from __future__ import annotations

import json
import statistics
from typing import Any

CLOCK_S = 0.002
SLACK_S = 0.02


def _fetch_requests(history: Any) -> list[dict[str, Any]]:
    requests = []
    for event in history.events:
        if event.HasField("activity_task_scheduled_event_attributes"):
            attributes = event.activity_task_scheduled_event_attributes
            # The deletes pass after the window lists archived records on the same path and
            # budget: it is spaced like the fetches.
            if attributes.activity_type.name in ("fetch_page", "reconcile_deletes"):
                requests.append(json.loads(attributes.input.payloads[0].data))
    return requests


async def test_fetches_are_spaced_one_interval_apart(make_stack: Any) -> None:
    # 12 pages at 4 requests/s: each fetch is due 250 ms after the one before it.
    stack = make_stack({"list_page_size": 20, "requests_per_second": 4}, contacts=240, seed=5)
    handle = await stack.start()
    await handle.result()
    requests = _fetch_requests(await handle.fetch_history())
    assert len(requests) >= 12
    due = [r["not_before_ms"] for r in requests]
    assert all(later - earlier >= 250 for earlier, later in zip(due, due[1:], strict=False))
    # And each fetch really waited: its request reached the provider no sooner than asked
    # (less the millisecond not_before_ms is truncated to), one interval after the one before.
    sent = stack.provider_requests(stack.hubspot_paths.objects("contacts"))
    assert len(sent) == len(requests)
    early = [round(r["not_before_ms"] / 1000 - at, 3) for r, at in zip(requests, sent, strict=True)
             if at < r["not_before_ms"] / 1000 - CLOCK_S]
    assert not early, f"requests sent this many seconds before their time: {early}"
    # Due times, not sends, are spaced: a request sent late (the first pays for the token and
    # the connection) shortens the gap after it, so the typical gap is the measure.
    gaps = [later - earlier for earlier, later in zip(sent, sent[1:], strict=False)]
    assert statistics.median(gaps) >= 0.25 - SLACK_S, [round(g, 3) for g in gaps]
    assert len(stack.destination()) == 240
