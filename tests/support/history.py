"""Reading a workflow's history in tests."""

from __future__ import annotations

import base64
import binascii
import contextlib
from typing import Any

from temporalio.client import WorkflowHistory

from tests.support.stacks import Stack


def most_fetches_in_flight(history: WorkflowHistory) -> int:
    """The largest number of fetch_page activities scheduled and not yet closed at one time."""
    fetches: set[int] = set()
    in_flight = most = 0
    for event in history.events:
        if event.HasField("activity_task_scheduled_event_attributes"):
            if event.activity_task_scheduled_event_attributes.activity_type.name == "fetch_page":
                fetches.add(event.event_id)
                in_flight += 1
                most = max(most, in_flight)
            continue
        for name in ("completed", "failed", "timed_out", "canceled"):
            attrs = f"activity_task_{name}_event_attributes"
            if event.HasField(attrs) and getattr(event, attrs).scheduled_event_id in fetches:
                in_flight -= 1
    return most


async def runs_of(stack: Stack, handle: Any) -> list[WorkflowHistory]:
    """Every run of the workflow, following continue-as-new from the first."""
    histories = []
    run_id: str | None = handle.first_execution_run_id
    while run_id:
        history = await stack.client.get_workflow_handle(
            stack.workflow_id, run_id=run_id).fetch_history()
        histories.append(history)
        last = history.events[-1]
        run_id = (last.workflow_execution_continued_as_new_event_attributes.new_execution_run_id
                  if last.HasField("workflow_execution_continued_as_new_event_attributes")
                  else None)
    return histories


def readable(history: WorkflowHistory) -> str:
    """The history as JSON text with every payload decoded (to_json shows them base64): what a
    person reading it in the Web UI or `temporal workflow show` sees, to search for secrets."""
    decoded: list[str] = []

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            data = value.get("data")
            if isinstance(data, str):
                with contextlib.suppress(binascii.Error, ValueError):  # bytes, not a payload
                    decoded.append(base64.b64decode(data, validate=True).decode(errors="replace"))
            for child in value.values():
                walk(child)
        elif isinstance(value, list):
            for child in value:
                walk(child)

    walk(history.to_json_dict())
    return "\n".join([history.to_json(), *decoded])
