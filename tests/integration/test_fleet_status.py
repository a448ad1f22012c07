"""`status`: lag, last 24 hours, rate-limit waits, token refreshes, blocked syncs, --watch."""

from __future__ import annotations

import asyncio
import io
import json
import os
import signal
import subprocess
import sys
import threading
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from temporalio.testing import WorkflowEnvironment
from typer.testing import CliRunner

from infra.times import utcnow
from starter import status_view
from starter.cli import app
from store.db import engine
from store.schema import sync_runs
from tests.support.cli import add
from tests.support.network import closed_port
from tests.support.polling import until
from tests.support.processes import ROOT
from tests.support.stacks import wait_for_status

runner = CliRunner()


def _row(output: str, connection: str, stream: str = "contacts") -> dict[str, Any]:
    [row] = [r for r in json.loads(output)
             if (r["connection"], r["stream"]) == (connection, stream)]
    return row


def _render(rows: list[dict[str, Any]]) -> str:
    console = Console(width=400, record=True, file=io.StringIO())
    console.print(status_view.table(rows))
    return console.export_text()


def _add_run(connection: str, window_id: str, finished_ago: timedelta, upserted: int) -> None:
    now = utcnow()
    with engine().begin() as conn:
        conn.execute(sync_runs.insert().values(
            window_id=window_id, connection=connection, stream="contacts", kind="incremental",
            window_end=now - finished_ago, started_at=now - finished_ago,
            finished_at=now - finished_ago, pages=1, records_upserted=upserted,
        ))


async def test_status_counts_the_last_day_rate_limit_waits_and_refreshes(
    temporal: WorkflowEnvironment, make_stack: Any
) -> None:
    stack = make_stack({"list_page_size": 50}, contacts=150, seed=91)
    stack.sandbox.inject("rate_limit", count=2, retry_after=0.2)
    await stack.sync()
    _add_run(stack.connection, "older-than-a-day", timedelta(hours=25), upserted=999)
    env = {"TEMPORAL_ADDRESS": temporal.client.service_client.config.target_host}

    result = await asyncio.to_thread(runner.invoke, app, ["status", "--json"], env=env)
    assert result.exit_code == 0, result.output
    row = _row(result.stdout, stack.connection)
    assert row["records_synced_24h"] == 150  # the run of 25 hours ago is left out
    assert row["rate_limit_waits"] == 2
    assert row["token_refreshes"] == 1
    assert row["health"] == "green"
    expected_lag = (utcnow() - stack.state().watermark).total_seconds()
    assert 0 <= expected_lag - row["lag_seconds"] <= 5

    shown = _render([row])
    assert "429 waits" in shown and "token refreshes" in shown


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_a_blocked_sync_says_why_in_status(
    temporal: WorkflowEnvironment, make_stack: Any
) -> None:
    stack = make_stack(contacts=50, seed=92)
    stack.sandbox.revoke_refresh_token()
    handle = await stack.start(every="1h")
    live = await wait_for_status(handle, lambda s: s["state"] == "needs_reauthorization")
    env = {"TEMPORAL_ADDRESS": temporal.client.service_client.config.target_host}

    result = await asyncio.to_thread(runner.invoke, app, ["status", "--json"], env=env)
    row = _row(result.stdout, stack.connection)
    assert row["health"] == "red"
    assert row["blocked"].startswith("needs re-authorization")
    # blocked_since is the workflow's own clock, from its status query.
    assert live["blocked_since_ms"] is not None
    assert datetime.fromisoformat(row["blocked_since"]).timestamp() * 1000 \
        == live["blocked_since_ms"]

    shown = _render([row])
    assert "needs re-authorization" in shown
    assert "stuck for" in shown


class _Output:
    """Drains a child's stdout in a thread, so the pipe never fills and the test can search it.

    Reads whatever the pipe holds at once: a redraw every 0.2 s is a lot of text, and a reader
    slower than the child leaves it blocked in a write, deaf to Ctrl-C.
    """

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stdout is not None
        self._chunks: list[bytes] = []
        self._thread = threading.Thread(target=self._read, args=(proc.stdout.fileno(),),
                                        daemon=True)
        self._thread.start()

    def _read(self, fd: int) -> None:
        while chunk := os.read(fd, 1 << 16):
            self._chunks.append(chunk)

    @property
    def text(self) -> str:
        return b"".join(self._chunks).decode(errors="replace")

    async def wait_for(self, needle: str, after: int = 0, timeout: float = 30) -> int:
        """Where `needle` first shows at or after `after` (found + 1 keeps position 0 truthy)."""
        try:
            return await until(lambda: self.text.find(needle, after) + 1, timeout) - 1
        except AssertionError:
            raise AssertionError(f"{needle!r} never shown; output: {self.text[-2000:]}") from None


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_watch_redraws_as_the_database_changes(database_url: str, tmp_path: Path) -> None:
    add("watched")
    env = {**os.environ, "TEMPORAL_ADDRESS": closed_port(), "TTY_COMPATIBLE": "1",
           "COLUMNS": "250"}
    errors = tmp_path / "stderr.txt"
    with errors.open("wb") as sink:
        proc = subprocess.Popen(
            [sys.executable, "-m", "starter", "status", "--watch", "--interval", "0.2"],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=sink,
        )
    try:
        output = _Output(proc)
        first = await output.wait_for("watched")
        _add_run("watched", "just-now", timedelta(seconds=1), upserted=4242)
        await output.wait_for("4242", after=first)  # a later frame shows the new run
        proc.send_signal(signal.SIGINT)
        await until(lambda: proc.poll() is not None, 20, "status --watch to exit on Ctrl-C")
        assert proc.returncode == 0
        assert "Traceback" not in errors.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_watch_and_json_together_are_refused(database_url: str) -> None:
    result = runner.invoke(app, ["status", "--watch", "--json"])
    assert result.exit_code == 2 and "--watch draws a table" in result.output
