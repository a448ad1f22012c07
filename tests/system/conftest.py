"""System fixtures: worker processes to kill and observe, a dev server to restart."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from tests.support.network import free_port
from tests.support.processes import DevServer, WorkerProcess
from tests.support.stacks import Stack, stack_factory

STALENESS_CHECK_S = 0.2


@pytest.fixture
def worker_process(
    temporal: WorkflowEnvironment, database_url: str, tmp_path: Path
) -> Iterator[Callable[..., WorkerProcess]]:
    """worker_process(address=None, url=None, **env): a started `python worker.py`."""
    started: list[WorkerProcess] = []

    def make(address: str | None = None, url: str | None = None, **env: str) -> WorkerProcess:
        target = address or temporal.client.service_client.config.target_host
        process = WorkerProcess(target, url or database_url,
                                tmp_path / f"worker{len(started)}.log", **env)
        process.start()
        started.append(process)
        return process

    yield make
    for process in started:
        process.stop()


@pytest.fixture
async def observed_worker(
    worker_process: Callable[..., WorkerProcess]
) -> AsyncIterator[WorkerProcess]:
    """A worker process with its metrics endpoint and JSON debug logs, which must exit 0."""
    process = worker_process(metrics_port=free_port(), TRIBUTARY_LOG_FORMAT="json",
                             TRIBUTARY_LOG_LEVEL="DEBUG",
                             TRIBUTARY_STALENESS_CHECK_S=str(STALENESS_CHECK_S))
    await process.connected()
    yield process
    # A clean exit with the metrics endpoint up (the SDK runtime can abort at exit).
    assert await process.terminate() == 0, process.log_text()[-2000:]


@pytest.fixture
async def process_stack(
    temporal: WorkflowEnvironment, database_url: str
) -> AsyncIterator[Callable[..., Stack]]:
    """HubSpot stacks whose syncs only worker processes run (no in-process worker here)."""
    async with stack_factory(temporal.client) as stacks:
        yield stacks.hubspot


@pytest.fixture
async def dev_server(tmp_path: Path) -> AsyncIterator[DevServer]:
    server = DevServer(tmp_path)
    await server.start()
    yield server
    server.stop()
