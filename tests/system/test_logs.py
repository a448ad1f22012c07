"""The worker's logs: one JSON object per line, with the sync's context, and never a secret."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

from store import vault
from store.db import engine
from tests.support.processes import ROOT, WorkerProcess
from tests.support.stacks import wait_for_status


async def test_debug_logs_carry_context_and_no_secret(
    observed_worker: WorkerProcess, process_stack: Any
) -> None:
    # 50 pages: the sync is still running when the tokens expire after page 2.
    stack = process_stack({"list_page_size": 20}, contacts=1000, seed=62)
    handle = await stack.start()
    await wait_for_status(handle, lambda s: (s["window"] or {}).get("pages", 0) >= 2)
    stack.sandbox.expire_access_tokens()  # a 401, then a second refresh: two access tokens
    stack.sandbox.inject("rate_limit", count=1, retry_after=0.1)
    summary = await handle.result()
    assert summary["token_refreshes"] == 2

    lines = observed_worker.log_lines()  # fails on any line that is not JSON
    assert all({"time", "level", "logger", "message"} <= set(line) for line in lines)
    assert any(line["level"] == "DEBUG" for line in lines), "DEBUG logging was not on"
    fetched = [line for line in lines if line["logger"] == "tributary.fetch"
               and line.get("connection") == stack.connection]
    assert fetched, "no fetch log line"
    first = fetched[0]
    assert first["stream"] == "contacts" and first["provider"] == "hubspot"
    assert first["workflow_id"] == stack.workflow_id and first["run_id"]
    assert first["activity"] == "fetch_page" and first["attempt"] >= 1 and "page" in first
    failed = [line for line in lines if line.get("category") == "auth_failure"
              and line.get("workflow_id") == stack.workflow_id]
    assert failed and failed[0]["activity"] == "fetch_page"

    text = observed_worker.log_text()
    with engine().connect() as conn:
        secrets = vault.load(conn, stack.connection).secrets
    issued = [secrets.client_secret, secrets.refresh_token, secrets.access_token,
              *stack.sandbox.credentials().values()]
    leaked = [value for value in issued if value and value in text]
    assert not leaked, f"{len(leaked)} secrets in the worker's logs"


def test_bad_log_format_is_a_clear_error() -> None:
    env = dict(os.environ, TRIBUTARY_LOG_FORMAT="yaml", TRIBUTARY_METRICS_PORT="0")
    done = subprocess.run([sys.executable, str(ROOT / "worker.py")], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert "TRIBUTARY_LOG_FORMAT must be one of json, text" in done.stderr
    assert "Traceback" not in done.stderr
