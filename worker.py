"""Runs Tributary's Temporal workers: workflows, database steps and provider calls.

    python worker.py            # TEMPORAL_ADDRESS, DATABASE_URL, TRIBUTARY_HOME from the env

Observability settings (env):
    TRIBUTARY_METRICS_PORT       Prometheus /metrics port, Tributary's and the SDK's (9464; 0: off)
    TRIBUTARY_METRICS_HOST       address /metrics listens on (127.0.0.1; 0.0.0.0 in a container)
    TRIBUTARY_LOG_FORMAT         json (one object per line, the default) or text
    TRIBUTARY_LOG_LEVEL          DEBUG, INFO (default), WARNING, ERROR
    TRIBUTARY_STALENESS_CHECK_S  seconds between staleness checks (30; 0: off)
    TRIBUTARY_LOCAL_RATE_LIMIT   1: pace connections in this process even if the server can
    TRIBUTARY_WORKERS            worker processes sharing each connection's rate when paced
                                 locally (1); see docs/RUNBOOK.md, "Rate limits"

SIGTERM or Ctrl-C stops polling, lets running activities finish (up to a grace period) and exits.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import os
import signal
import sys
from collections.abc import Sequence
from datetime import timedelta
from typing import TypedDict

# httpx imports its own command line when click is installed (typer brings it), and with it
# rich and pygments: 6 MiB of the worker's peak memory for code a worker never runs.
sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]  # None: "not importable"

from temporalio.client import Client
from temporalio.runtime import (
    LoggingConfig,
    LoggingFormat,
    PrometheusConfig,
    Runtime,
    TelemetryConfig,
    TelemetryFilter,
)
from temporalio.worker import Interceptor, Worker

from activities.associations import read_associations, reconcile_associations
from activities.deletes import reconcile_deletes
from activities.describe import describe_stream
from activities.fetch import fetch_page
from activities.token import refresh_token
from activities.transform import transform_page
from activities.upsert import upsert_page
from activities.watermark import commit_watermark
from connectors.registry import SETTINGS
from infra import heap, limiter, logs, rate_limits, staleness
from infra.heartbeat import HeartbeatInterceptor
from infra.metrics import BUCKETS
from infra.observe import ObservabilityInterceptor
from infra.temporal import address, ensure_search_attributes, namespace
from workflows.names import DB_QUEUE, WORKFLOW_QUEUE, provider_queue
from workflows.stream_sync import StreamSync

GRACE = timedelta(seconds=20)
DEFAULT_METRICS_PORT = 9464
# /metrics has no authentication and names every connection: this host only, unless asked.
DEFAULT_METRICS_HOST = "127.0.0.1"
DEFAULT_STALENESS_CHECK_S = 30.0
log = logging.getLogger("tributary.worker")


class _Common(TypedDict):
    """What every worker of the process is given."""

    graceful_shutdown_timeout: timedelta
    interceptors: Sequence[Interceptor]


def build_workers(client: Client) -> list[Worker]:
    # Observability outermost, so a failed attempt is logged and explained whatever fails inside.
    common: _Common = {"graceful_shutdown_timeout": GRACE,
                       "interceptors": [ObservabilityInterceptor(), HeartbeatInterceptor()]}
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
               activities=[refresh_token, fetch_page, reconcile_deletes, read_associations,
                           reconcile_associations], max_concurrent_activities=32, **common)
        for provider in SETTINGS
    ]
    return workers


def _env_number(name: str, default: float) -> float:
    raw = os.environ.get(name, "").strip()
    try:
        value = float(raw) if raw else default
    except ValueError:
        raise ValueError(f"{name} must be a number, not {raw!r}") from None
    if value < 0:
        raise ValueError(f"{name} must be 0 (off) or positive, not {raw!r}")
    return value


def _runtime(prometheus: PrometheusConfig | None, log_format: str) -> Runtime:
    # Core's own warnings go straight to stderr, as JSON when the worker logs JSON; forwarding
    # them through Python logging would run Python callbacks on Core's threads.
    core_format = LoggingFormat.JSON if log_format == "json" else LoggingFormat.COMPACT
    return Runtime(telemetry=TelemetryConfig(
        logging=LoggingConfig(filter=TelemetryFilter(core_level="WARN", other_level="ERROR"),
                              format=core_format),
        metrics=prometheus,
    ))


def metrics_address(host: str, port: int) -> str:
    """`host:port` for the SDK's exporter; the host must be an IP address (no name lookup)."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        raise ValueError(f"TRIBUTARY_METRICS_HOST must be an IP address (127.0.0.1, 0.0.0.0, "
                         f"::), not {host!r}") from None
    return f"[{address}]:{port}" if address.version == 6 else f"{address}:{port}"


def build_runtime(metrics: str | None, log_format: str) -> tuple[Runtime, bool]:
    """The SDK runtime and whether it serves /metrics at `metrics` (host:port; None: off)."""
    if metrics is None:
        return _runtime(None, log_format), False
    try:
        # `_total` on counters: the Prometheus naming convention, for the SDK's counters too.
        return _runtime(PrometheusConfig(bind_address=metrics,
                                         counters_total_suffix=True,
                                         histogram_bucket_overrides=BUCKETS),
                        log_format), True
    except ValueError as exc:
        # A second worker on one host: syncing matters more than its metrics.
        log.error("metrics off for this worker: %s: %s (set TRIBUTARY_METRICS_PORT to a "
                  "free port, or 0)", metrics, exc)
        return _runtime(None, log_format), False


async def select_rate_limiting(client: Client) -> bool:
    """The server enforces each connection's rate, or else this process does; True: local."""
    return limiter.configure(server_enforces=await rate_limits.apply(client, list(SETTINGS)))


async def run(client: Client, stop: asyncio.Event, staleness_check_s: float = 0) -> None:
    await ensure_search_attributes(client)
    await select_rate_limiting(client)
    workers = build_workers(client)
    runs = [asyncio.create_task(w.run()) for w in workers]
    if staleness_check_s:
        runs.append(asyncio.create_task(staleness.watch(client, staleness_check_s, stop)))
    await stop.wait()
    await asyncio.gather(*(w.shutdown() for w in workers))
    await asyncio.gather(*runs, return_exceptions=True)


async def main() -> None:
    try:
        log_format = logs.configure()
        metrics_port = int(_env_number("TRIBUTARY_METRICS_PORT", DEFAULT_METRICS_PORT))
        host = os.environ.get("TRIBUTARY_METRICS_HOST", "").strip() or DEFAULT_METRICS_HOST
        metrics = metrics_address(host, metrics_port) if metrics_port else None
        staleness_check_s = _env_number("TRIBUTARY_STALENESS_CHECK_S", DEFAULT_STALENESS_CHECK_S)
        limiter.workers()  # a bad TRIBUTARY_WORKERS stops the worker now, not its first fetch
    except ValueError as exc:  # a bad setting: say which, no traceback
        sys.exit(f"worker: {exc}")
    heap.bound()
    runtime, serving = build_runtime(metrics, log_format)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    client = await Client.connect(address(), namespace=namespace(), runtime=runtime)
    log.info("worker connected to %s (metrics: %s)", client.namespace,
             f"http://{metrics}/metrics" if serving else "off")
    await run(client, stop, staleness_check_s)


if __name__ == "__main__":
    asyncio.run(main())
    # Everything is shut down and flushed; skip interpreter teardown, where the Temporal SDK's
    # native runtime intermittently aborts (SIGABRT), turning a clean stop into exit code 134.
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
