"""worker.py as a separate process with its metrics endpoint and JSON logs, and stacks for it."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from temporalio.testing import WorkflowEnvironment

from tests.integration.conftest import Stack, make_stack, stack_factory, worker  # noqa: F401

ROOT = Path(__file__).resolve().parents[2]
STALENESS_CHECK_S = 0.2


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def until(condition: Callable[[], Any], timeout: float = 60, what: str = "") -> Any:
    """Poll `condition` until it returns something truthy (no fixed sleeps)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        result = condition()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return result
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what or condition}")
        await asyncio.sleep(0.05)


@dataclass
class WorkerProcess:
    process: asyncio.subprocess.Process
    log_path: Path
    metrics_port: int

    def log_lines(self) -> list[dict[str, Any]]:
        """Every line the worker wrote, each parsed as JSON (a non-JSON line fails the test)."""
        return [json.loads(line) for line in self.log_path.read_text().splitlines() if line]

    def log_text(self) -> str:
        return self.log_path.read_text()

    async def scrape(self) -> list[tuple[str, dict[str, str], float]]:
        async with httpx.AsyncClient() as client:
            response = await client.get(f"http://127.0.0.1:{self.metrics_port}/metrics")
        response.raise_for_status()
        return [(s.name, s.labels, s.value)
                for family in text_string_to_metric_families(response.text)
                for s in family.samples]


@pytest.fixture
async def worker_process(temporal: WorkflowEnvironment, database_url: str,
                         tmp_path: Path) -> AsyncIterator[WorkerProcess]:
    port = free_port()
    log_path = tmp_path / "worker.log"
    env = dict(os.environ, TEMPORAL_ADDRESS=temporal.client.service_client.config.target_host,
               DATABASE_URL=database_url, TRIBUTARY_METRICS_PORT=str(port),
               TRIBUTARY_LOG_FORMAT="json", TRIBUTARY_LOG_LEVEL="DEBUG",
               TRIBUTARY_STALENESS_CHECK_S=str(STALENESS_CHECK_S))
    with log_path.open("wb") as log_file:
        process = await asyncio.create_subprocess_exec(
            sys.executable, str(ROOT / "worker.py"), cwd=ROOT, env=env, stderr=log_file)
    running = WorkerProcess(process, log_path, port)
    try:
        await until(lambda: process.returncode is not None
                    or "worker connected" in log_path.read_text(), what="worker start")
        assert process.returncode is None, running.log_text()[-2000:]
        yield running
        process.send_signal(signal.SIGTERM)
        # A clean exit with the metrics endpoint up (the SDK runtime can abort at exit).
        assert await asyncio.wait_for(process.wait(), 30) == 0, running.log_text()[-2000:]
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


@pytest.fixture
async def process_stack(worker_process: WorkerProcess,
                        temporal: WorkflowEnvironment) -> AsyncIterator[Callable[..., Stack]]:
    """Stacks synced by the worker process (no in-process worker runs alongside)."""
    async with stack_factory(temporal.client) as make:
        yield make
