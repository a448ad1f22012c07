"""Chaos fixtures: worker processes to kill, a dev server to restart, a database to cut off."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from temporalio.testing import WorkflowEnvironment

from tests.integration.conftest import (  # noqa: F401 - fixtures shared with integration
    Stack,
    make_stack,
    stack_factory,
    worker,
)

ROOT = Path(__file__).resolve().parents[2]


def stop(process: subprocess.Popen[bytes] | None) -> None:
    """SIGTERM, then SIGKILL if it has not exited within 30 s."""
    if process is not None and process.poll() is None:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class WorkerProcess:
    """`python worker.py` as operators run it, which the test may kill -9 and restart."""

    def __init__(self, address: str, database_url: str, log: Path) -> None:
        self.env = dict(os.environ, TEMPORAL_ADDRESS=address, DATABASE_URL=database_url)
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, str(ROOT / "worker.py")], cwd=ROOT, env=self.env,
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )
        self.starts += 1

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        stop(self.process)


@pytest.fixture
def worker_process(
    temporal: WorkflowEnvironment, database_url: str, tmp_path: Path
) -> Iterator[Callable[..., WorkerProcess]]:
    started: list[WorkerProcess] = []

    def make(address: str | None = None, url: str | None = None) -> WorkerProcess:
        target = address or temporal.client.service_client.config.target_host
        process = WorkerProcess(target, url or database_url, tmp_path / f"worker{len(started)}.log")
        process.start()
        started.append(process)
        return process

    yield make
    for process in started:
        process.stop()


@pytest.fixture
async def chaos_stack(
    temporal: WorkflowEnvironment, database_url: str
) -> AsyncIterator[Callable[..., Stack]]:
    """Stacks whose syncs only out-of-process workers run (no in-process worker here)."""
    async with stack_factory(temporal.client) as make:
        yield make


async def until(predicate: Callable[[], Any], timeout: float, what: str) -> None:
    """Poll a condition with a deadline: the only way these tests wait for each other."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")
        await asyncio.sleep(0.05)


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class DevServer:
    """A Temporal dev server with a persistent database file, to stop and start again."""

    def __init__(self, directory: Path) -> None:
        from infra.rate_limits import DEV_SERVER_ARGS
        from tests.conftest import temporal_cli
        from workflows.names import SEARCH_ATTRIBUTES

        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.argv = [temporal_cli(), "server", "start-dev", "--headless", "--ip", "127.0.0.1",
                     "--port", str(self.port), "--db-filename", str(directory / "temporal.db"),
                     "--log-level", "error", *DEV_SERVER_ARGS]
        for key in SEARCH_ATTRIBUTES:
            self.argv += ["--search-attribute", f"{key.name}=Keyword"]
        self.log = directory / "temporal.log"
        self.process: subprocess.Popen[bytes] | None = None

    async def start(self) -> None:
        from temporalio.client import Client

        with self.log.open("ab") as log:
            self.process = subprocess.Popen(self.argv, stdout=log, stderr=subprocess.STDOUT,
                                            start_new_session=True)
        deadline = asyncio.get_running_loop().time() + 60
        while True:
            try:
                await Client.connect(self.address)
                return
            except RuntimeError:
                if asyncio.get_running_loop().time() > deadline:
                    raise
                await asyncio.sleep(0.2)

    def stop(self) -> None:
        stop(self.process)


@pytest.fixture
async def dev_server(tmp_path: Path) -> AsyncIterator[DevServer]:
    server = DevServer(tmp_path)
    await server.start()
    yield server
    server.stop()


class TcpProxy:
    """Sits between the worker and PostgreSQL; the test cuts and restores the database."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.up = True
        self.refused = 0
        self.cut_connections = 0
        self._links: set[asyncio.StreamWriter] = set()
        self._server: asyncio.Server | None = None
        self.port = 0

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self.up:
            self.refused += 1
            writer.close()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.close()
            return
        self._links |= {writer, up_writer}
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            self._links.discard(writer)
            writer.close()

    def cut(self) -> None:
        """Refuse new connections and drop the open ones, mid-transaction or not."""
        self.up = False
        self.cut_connections += len(self._links)
        for writer in list(self._links):
            writer.transport.abort()
        self._links.clear()

    def restore(self) -> None:
        self.up = True

    async def close(self) -> None:
        self.cut()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
