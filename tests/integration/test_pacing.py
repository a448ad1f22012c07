"""A stream spaces its own requests at its connection's rate, on top of the server's limit.

The server enforces the rate but lets a key that fell behind catch up in a burst, which crowds
the provider's rolling window; the workflow gives every fetch a "not before" one interval after
the previous one, so a stream never builds that credit.
"""

from __future__ import annotations

import json
from typing import Any


def _fetch_requests(history: Any) -> list[dict[str, Any]]:
    requests = []
    for event in history.events:
        if event.HasField("activity_task_scheduled_event_attributes"):
            attributes = event.activity_task_scheduled_event_attributes
            if attributes.activity_type.name == "fetch_page":
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
    assert len(stack.destination()) == 240
