"""worker.py as operators run it: a separate process that exits cleanly on SIGTERM."""

from __future__ import annotations

from collections.abc import Callable

from tests.support.processes import WorkerProcess


async def test_worker_exits_cleanly_on_sigterm(
    worker_process: Callable[..., WorkerProcess],
) -> None:
    process = worker_process()
    await process.connected()
    assert await process.terminate(60) == 0
