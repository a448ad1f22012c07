"""Runs Tributary's Temporal workers: workflows, database steps and provider calls.

    python worker.py            # TEMPORAL_ADDRESS, DATABASE_URL, TRIBUTARY_HOME from the env

SIGTERM or Ctrl-C stops polling, lets running activities finish (up to a grace period) and exits.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from datetime import timedelta

from temporalio.client import Client
from temporalio.worker import Worker

from activities.describe import describe_stream
from activities.fetch import fetch_page
from activities.heartbeat import HeartbeatInterceptor
from activities.token import refresh_token
from activities.transform import transform_page
from activities.upsert import upsert_page
from activities.watermark import commit_watermark
from connectors.registry import SETTINGS
from starter.temporal import connect, ensure_search_attributes
from workflows.names import DB_QUEUE, WORKFLOW_QUEUE, provider_queue
from workflows.stream_sync import StreamSync

GRACE = timedelta(seconds=20)


def build_workers(client: Client) -> list[Worker]:
    common = {"graceful_shutdown_timeout": GRACE, "interceptors": [HeartbeatInterceptor()]}
    workers = [
        Worker(client, task_queue=WORKFLOW_QUEUE, workflows=[StreamSync],
               # Eager starts would run provider activities in this process, bypassing the
               # server-side per-queue limits.
               disable_eager_activity_execution=True, **common),
        Worker(client, task_queue=DB_QUEUE,
               activities=[describe_stream, transform_page, upsert_page, commit_watermark],
               max_concurrent_activities=16, **common),
    ]
    workers += [
        Worker(client, task_queue=provider_queue(provider),
               activities=[refresh_token, fetch_page], max_concurrent_activities=32, **common)
        for provider in SETTINGS
    ]
    return workers


async def run(client: Client, stop: asyncio.Event) -> None:
    await ensure_search_attributes(client)
    workers = build_workers(client)
    runs = [asyncio.create_task(w.run()) for w in workers]
    await stop.wait()
    await asyncio.gather(*(w.shutdown() for w in workers))
    await asyncio.gather(*runs, return_exceptions=True)


async def main() -> None:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    client = await connect()
    logging.getLogger("tributary.worker").info("worker connected to %s", client.namespace)
    await run(client, stop)


if __name__ == "__main__":
    asyncio.run(main())
    # Everything is shut down and flushed; skip interpreter teardown, where the Temporal SDK's
    # native runtime intermittently aborts (SIGABRT), turning a clean stop into exit code 134.
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
