"""Each error category, provoked on purpose, explains itself in `temporal workflow show`.

A failed attempt is in the history as ActivityTaskFailed (non-retryable) or as the lastFailure of
the ActivityTaskStarted event of the attempt that finally succeeded (retried categories).
"""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import WorkflowFailureError

from connectors.errors import ACTIONS
from tests.support.processes import temporal_cli
from tests.support.stacks import Stack, wait_for_status

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
REQUEST_ID = re.compile(r"request id [0-9a-f-]{36}")


async def history_failures(stack: Stack) -> list[dict[str, Any]]:
    """Every activity failure in the workflow's history, read with the real Temporal CLI."""
    target = stack.client.service_client.config.target_host
    process = await asyncio.create_subprocess_exec(
        temporal_cli(), "workflow", "show", "--workflow-id", stack.workflow_id,
        "--address", target, "--namespace", stack.client.namespace, "--output", "json",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, err.decode()
    failures = []
    for event in json.loads(out)["events"]:
        failed = event.get("activityTaskFailedEventAttributes", {}).get("failure")
        retried = event.get("activityTaskStartedEventAttributes", {}).get("lastFailure")
        failures += [f for f in (failed, retried) if f]
    return failures


def explained(failures: list[dict[str, Any]], category: str) -> dict[str, Any]:
    found = [f for f in failures if f["applicationFailureInfo"]["type"] == category]
    assert found, f"no {category} failure in {[f['message'] for f in failures]}"
    message = found[0]["message"]
    assert message.startswith(f"{category}: ") or category == "invalid_input", message
    assert f"Action: {ACTIONS[category]}" in message, message
    assert f"See docs/RUNBOOK.md#{category}" in message, message
    return found[0]


def assert_provider_details(message: str, status: int, page: int) -> None:
    assert f"hubspot list page {page} HTTP {status}" in message, message
    assert REQUEST_ID.search(message), message  # the sandbox's correlationId


@pytest.mark.parametrize(("category", "status", "fault"), [
    ("rate_limited", 429, {"kind": "rate_limit", "retry_after": 0.1}),
    ("server_error", 503, {"kind": "server_error", "status": 503}),
    ("conflict", 409, {"kind": "server_error", "status": 409}),
])
async def test_retried_failure_is_explained(make_stack: Any, category: str, status: int,
                                            fault: dict[str, Any]) -> None:
    stack = make_stack({"list_page_size": 20}, contacts=30, seed=71)
    stack.sandbox.inject(**fault)
    await stack.sync()
    failure = explained(await history_failures(stack), category)
    assert_provider_details(failure["message"], status, page=0)
    assert runbook_section(category)


async def test_timeout_is_explained(make_stack: Any) -> None:
    stack = make_stack({"list_page_size": 20, "timeout_s": 0.3}, contacts=30, seed=72)
    stack.sandbox.inject("slow", delay_s=2)
    await stack.sync()
    message = explained(await history_failures(stack), "timeout")["message"]
    assert "hubspot list page 0 no HTTP status: no response within 0.3s" in message, message
    assert runbook_section("timeout")


@pytest.mark.parametrize(("category", "status"), [
    ("validation_error", 400), ("auth_failure", 401),
])
async def test_blocking_failure_is_explained(make_stack: Any, category: str,
                                             status: int) -> None:
    stack = make_stack({"list_page_size": 10}, contacts=100, seed=73)
    handle = await stack.start()
    await wait_for_status(handle, lambda s: (s["window"] or {}).get("pages", 0) >= 2)
    if category == "auth_failure":  # a 401, and the one refresh after it is refused too
        stack.sandbox.revoke_refresh_token()
        stack.sandbox.expire_access_tokens()
    else:
        stack.sandbox.inject("server_error", status=400)
    await wait_for_status(handle, lambda s: s["blocked"] is not None)
    failure = explained(await history_failures(stack), category)
    found = re.search(r"page (\d+)", failure["message"])
    assert found is not None, failure["message"]
    page = int(found.group(1))
    assert page >= 1  # mid-sync: status counts pages started, and two were
    assert_provider_details(failure["message"], status, page)
    assert runbook_section(category)


async def test_invalid_input_is_explained(make_stack: Any) -> None:
    stack = make_stack()
    stack.stream = "tickets"
    with pytest.raises(WorkflowFailureError):
        await stack.sync()
    message = explained(await history_failures(stack), "invalid_input")["message"]
    assert "has no stream 'tickets'" in message, message
    assert runbook_section("invalid_input")


def runbook_section(category: str) -> str:
    """The RUNBOOK section the message points at (a heading that is the category itself)."""
    text = (Path(__file__).resolve().parents[2] / "docs" / "RUNBOOK.md").read_text()
    match = re.search(rf"^## {category}\n(.*?)(?=^## |\Z)", text, re.M | re.S)
    assert match, f"docs/RUNBOOK.md has no `## {category}` section"
    return match.group(1).strip()
