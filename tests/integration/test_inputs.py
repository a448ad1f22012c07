"""Bad workflow input fails fast, with a message that says what is wrong and what is valid."""

from __future__ import annotations

from typing import Any

import pytest
from temporalio.client import WorkflowFailureError

from workflows.names import WORKFLOW_QUEUE, WORKFLOW_TYPE


async def _fail(client: Any, params: Any, wid: str) -> str:
    with pytest.raises(WorkflowFailureError) as info:
        await client.execute_workflow(WORKFLOW_TYPE, params, id=wid, task_queue=WORKFLOW_QUEUE)
    cause = info.value.cause
    assert getattr(cause, "non_retryable", True)
    return str(getattr(cause, "message", cause))


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"connection": "nope", "stream": "contacts"}, "unknown connection 'nope'"),
        ({"connection": "{conn}", "stream": "tickets"}, "valid: contacts"),
        ({"connection": "{conn}"}, "stream: Field required"),
        ({"connection": "{conn}", "stream": "contacts", "every": "often"}, "every must look"),
        ({"connection": "{conn}", "stream": "contacts", "colour": "red"}, "colour"),
        ("connection=acme", "must be a JSON object"),
        ([1, 2], "must be a JSON object"),
    ],
)
async def test_bad_input_fails_fast(make_stack: Any, params: Any, expected: str) -> None:
    stack = make_stack(contacts=1)
    if isinstance(params, dict):
        params = {k: v.replace("{conn}", stack.connection) if isinstance(v, str) else v
                  for k, v in params.items()}
    message = await _fail(stack.client, params, f"bad-input-{stack.connection}")
    assert expected in message
