"""worker.py as operators run it: a separate process that exits cleanly on SIGTERM."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

from temporalio.testing import WorkflowEnvironment

ROOT = Path(__file__).resolve().parents[2]


async def test_worker_exits_cleanly_on_sigterm(temporal: WorkflowEnvironment,
                                               database_url: str) -> None:
    env = dict(os.environ, TEMPORAL_ADDRESS=temporal.client.service_client.config.target_host,
               DATABASE_URL=database_url)
    process = await asyncio.create_subprocess_exec(
        sys.executable, str(ROOT / "worker.py"), cwd=ROOT, env=env,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stderr is not None
        async with asyncio.timeout(60):
            while b"worker connected" not in await process.stderr.readline():
                assert process.returncode is None, "worker exited before connecting"
        process.send_signal(signal.SIGTERM)
        async with asyncio.timeout(60):
            assert await process.wait() == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
