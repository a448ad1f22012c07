"""Every activity heartbeats while it runs, so a killed worker's attempts retry within seconds.

Without heartbeats the server only notices a dead worker when start_to_close_timeout expires
(minutes); with them it notices after the workflow's heartbeat_timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from temporalio import activity
from temporalio.worker import (
    ActivityInboundInterceptor,
    ExecuteActivityInput,
    Interceptor,
)

INTERVAL_S = 1.0


class _Heartbeating(ActivityInboundInterceptor):
    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        async def beat() -> None:
            while True:
                await asyncio.sleep(INTERVAL_S)
                activity.heartbeat()

        task = asyncio.create_task(beat())
        try:
            return await super().execute_activity(input)
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


class HeartbeatInterceptor(Interceptor):
    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _Heartbeating(next)
