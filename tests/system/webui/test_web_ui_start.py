"""An operator starts a sync from the Temporal Web UI's "Start Workflow" form, as README shows."""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.polling import until
from workflows.names import WORKFLOW_QUEUE, WORKFLOW_TYPE

ROOT = Path(__file__).resolve().parents[3]
CHROMIUM = Path("/usr/bin/chromium")
# The README's screenshots; refreshed only when asked (UPDATE_SCREENSHOTS=1), so a test run
# leaves the work tree as it was.
SHOTS = ROOT / "docs" if os.environ.get("UPDATE_SCREENSHOTS") else Path(tempfile.gettempdir())
SCREENSHOT = SHOTS / "web-ui-start-workflow.png"
DETAILS_SCREENSHOT = SHOTS / "web-ui-sync-details.png"
# No network beyond this machine, no first-run chrome, no background services phoning home.
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


def _require_chromium() -> None:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs Debian's chromium package "
                    "(or run `apt-get install -y chromium`)")


async def _wait_for_ui(url: str, timeout: float = 30) -> None:
    async with httpx.AsyncClient() as http:
        async def answers() -> bool:
            return (await http.get(url)).status_code == 200

        await until(answers, timeout, f"the Web UI at {url}", interval=0.2,
                    ignore=(httpx.TransportError,))


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_start_workflow_form_starts_a_sync(make_stack: Any, ui_url: str) -> None:
    _require_chromium()
    from playwright.async_api import async_playwright

    stack = make_stack(contacts=120, seed=61)
    typed_input = json.dumps({"connection": stack.connection, "stream": "contacts"})
    await _wait_for_ui(ui_url)

    async with async_playwright() as playwright:
        with tempfile.TemporaryDirectory() as profile:
            browser = await playwright.chromium.launch_persistent_context(
                profile, executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_FLAGS,
                viewport={"width": 1280, "height": 1050},
            )
            try:
                page = await browser.new_page()
                await page.goto(f"{ui_url}/namespaces/default/workflows/start-workflow")
                await page.get_by_test_id("workflowId").fill(stack.workflow_id)
                await page.get_by_test_id("taskQueue").fill(WORKFLOW_QUEUE)
                await page.get_by_test_id("workflowType").fill(WORKFLOW_TYPE)
                await page.locator('[aria-label="Data"][contenteditable="true"]').click()
                # insert_text, not typing: the JSON editor would auto-close braces and quotes.
                await page.keyboard.insert_text(typed_input)
                # Leaving the editor reformats the JSON and moves the button: click it after.
                await page.get_by_role("heading", name="Start Workflow").click()
                await page.get_by_role("button", name="Start Workflow").click()
                started = page.get_by_role("link", name="Workflow started successfully")
                await started.wait_for(timeout=15_000)
                # animations="disabled" lands the sliding toast in place for the picture.
                await page.screenshot(path=str(SCREENSHOT), full_page=True,
                                      animations="disabled")

                handle = stack.client.get_workflow_handle(stack.workflow_id)
                summary = await asyncio.wait_for(handle.result(), timeout=120)
                assert summary["upserted"] == len(stack.expected())
                stack.assert_destination_equals_sandbox()

                # The workflow's own page: status badge, input typed above, the sync's summary.
                await page.goto(f"{ui_url}/namespaces/default/workflows/"
                                f"{stack.workflow_id.replace('/', '%2F')}")
                await page.get_by_text('"upserted"').wait_for(timeout=15_000)
                await page.screenshot(path=str(DETAILS_SCREENSHOT))
            finally:
                await browser.close()
    described = await handle.describe()
    assert described.workflow_type == WORKFLOW_TYPE
    assert described.task_queue == WORKFLOW_QUEUE
