"""Each connection's request rate, enforced by the Temporal server on its provider's task queue.

Provider calls carry `Priority(fairness_key=<connection>, fairness_weight=<its rate / base>)`;
the queue's per-key rate limit is the base rate scaled by the key's weight, so every worker
polling the queue is held to each connection's rate together, with no limiter of our own.
Where the server refuses, the per-worker limiter (infra.limiter) takes over.
"""

from __future__ import annotations

import logging

from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import RateLimit
from temporalio.api.workflowservice.v1 import UpdateTaskQueueConfigRequest
from temporalio.client import Client
from temporalio.service import RPCError

from infra.limiter import WORKERS_ENV
from workflows.names import RATE_LIMIT_BASE_RPS, provider_queue

log = logging.getLogger("tributary.rate_limits")

# A task queue has 4 partitions by default, and the server divides a per-key rate limit among
# them: with few tasks in flight some partitions idle while others hold their task, and a
# connection gets ~70 % of its rate. One partition makes the limit exact. The dev server's one
# history shard also reads new tasks at 20/s by default, adding ~80 ms to every step.
# Production: deploy/temporal-dynamicconfig.yaml (partitions only, per provider queue).
DEV_SERVER_ARGS = [
    "--dynamic-config-value", "matching.numTaskqueueReadPartitions=1",
    "--dynamic-config-value", "matching.numTaskqueueWritePartitions=1",
    "--dynamic-config-value", "history.transferProcessorMaxPollRPS=1000",
]


async def apply(client: Client, providers: list[str]) -> bool:
    """Set the per-key base rate of each provider queue; False if the server can't."""
    try:
        for provider in providers:
            await client.workflow_service.update_task_queue_config(UpdateTaskQueueConfigRequest(
                namespace=client.namespace,
                identity="tributary",
                task_queue=provider_queue(provider),
                task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
                update_fairness_key_rate_limit_default=UpdateTaskQueueConfigRequest.RateLimitUpdate(
                    rate_limit=RateLimit(requests_per_second=RATE_LIMIT_BASE_RPS),
                    reason="tributary: per-connection request rates (base x fairness weight)",
                ),
            ))
    except RPCError as exc:
        log.warning(
            "the Temporal server refused the per-connection rate limits of the provider task "
            "queues (UpdateTaskQueueConfig: %s: %s). Lost: one request rate per connection "
            "enforced across every worker. Taking over: each worker process paces each "
            "connection itself at requests_per_second / %s; run every worker with it set to the "
            "number of worker processes. See docs/RUNBOOK.md#rate-limits",
            exc.status.name, exc.message.rstrip("."), WORKERS_ENV)
        return False
    return True
