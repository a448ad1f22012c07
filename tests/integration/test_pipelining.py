"""A window's next batch is transformed while the batch before it is upserted."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from temporalio import activity
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.associations import read_associations, reconcile_associations
from activities.deletes import reconcile_deletes
from activities.describe import describe_stream
from activities.fetch import fetch_page
from activities.models import PageTask, TransformResult, UpsertResult
from activities.token import refresh_token
from activities.transform import transform_page
from activities.upsert import upsert_page
from activities.watermark import commit_watermark
from infra.heartbeat import HeartbeatInterceptor
from tests.support.stacks import stack_factory
from workflows.names import DB_QUEUE, WORKFLOW_QUEUE, provider_queue
from workflows.stream_sync import StreamSync

# How long an upsert waits for the next batch's transform to start: ample for the workflow to
# schedule it, and only the window's last upsert waits it out.
WAIT_S = 3.0


async def test_the_next_batch_is_transformed_while_one_is_upserted(
    temporal: WorkflowEnvironment, database_url: str
) -> None:
    transforms_started = 0
    changed = asyncio.Condition()
    overlapped: list[bool] = []  # per upsert: did the next transform start while it ran?

    @activity.defn(name="transform_page")
    async def counted_transform(task: PageTask) -> TransformResult:
        nonlocal transforms_started
        async with changed:
            transforms_started += 1
            changed.notify_all()
        return await transform_page(task)

    @activity.defn(name="upsert_page")
    async def held_upsert(task: PageTask) -> UpsertResult:
        batch = len(overlapped) + 1
        async with changed:
            try:
                await asyncio.wait_for(
                    changed.wait_for(lambda: transforms_started > batch), WAIT_S)
                overlapped.append(True)
            except TimeoutError:
                overlapped.append(False)
        return await upsert_page(task)

    client = temporal.client
    common: dict[str, Any] = {"interceptors": [HeartbeatInterceptor()]}
    workers = [
        Worker(client, task_queue=WORKFLOW_QUEUE, workflows=[StreamSync],
               disable_eager_activity_execution=True, **common),
        Worker(client, task_queue=DB_QUEUE, activities=[
            describe_stream, counted_transform, held_upsert, commit_watermark], **common),
        Worker(client, task_queue=provider_queue("hubspot"),
               activities=[refresh_token, fetch_page, reconcile_deletes, read_associations,
                           reconcile_associations], **common),
    ]
    runs = [asyncio.create_task(w.run()) for w in workers]
    try:
        async with stack_factory(client) as stacks:
            # 60 pages of 10: a batch of 50 pages, then one of 10.
            stack = stacks.hubspot({"list_page_size": 10}, contacts=600, seed=41)
            await stack.sync()
            stack.assert_destination_equals_sandbox()
    finally:
        await asyncio.gather(*(w.shutdown() for w in workers))
        with contextlib.suppress(Exception):
            await asyncio.gather(*runs)
    assert len(overlapped) >= 2
    # Every upsert but the last ran beside the next batch's transform.
    assert overlapped[:-1] == [True] * (len(overlapped) - 1)
