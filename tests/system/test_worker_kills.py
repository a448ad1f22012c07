"""SIGKILL the worker again and again mid-sync: the destination still equals the provider.

Each kill waits for a chosen step to be in flight (fetch, transform, upsert, token refresh),
the last one lands at the watermark commit. The schedule is seeded (CHAOS_SEED, printed) so a
failing run can be replayed.
"""

from __future__ import annotations

import asyncio
import os
import random
from typing import Any

from sqlalchemy import func, select
from temporalio.client import WorkflowExecutionStatus

from store.db import engine
from store.schema import contacts
from tests.support.polling import until

RECORDS = 20_000
INVALID = 25
STEPS = ["fetch_page", "transform_page", "upsert_page", "refresh_token"]


def _rows(connection: str) -> int:
    with engine().connect() as conn:
        return conn.execute(select(func.count()).select_from(contacts).where(
            contacts.c.connection == connection)).scalar_one()


async def _in_flight(handle: Any, step: str, timeout: float = 120) -> None:
    """Poll the server's view of the sync until `step` is a pending activity."""
    async def pending() -> list[str]:
        description = await handle.describe()
        return [p.activity_type.name for p in description.raw_description.pending_activities]

    async def in_flight() -> bool:
        return step in await pending()

    await until(in_flight, timeout, f"{step} in flight", interval=0.01)


async def test_sigkilled_worker_loses_and_duplicates_nothing(
    process_stack: Any, worker_process: Any
) -> None:
    seed = int(os.environ.get("CHAOS_SEED", random.SystemRandom().randrange(10**6)))
    rng = random.Random(seed)
    plan = rng.sample(STEPS * 2, k=len(STEPS) * 2) + ["anywhere", "commit_watermark"]
    print(f"\nCHAOS_SEED={seed} kill plan: {plan} (set CHAOS_SEED to replay it)")
    # 1,000 pages paced at 10/s by the server: the sync outlasts the whole plan, and a batch of
    # 50 pages is transformed and upserted every few seconds for those kills to land on.
    stack = process_stack({"list_page_size": 20, "requests_per_second": 10}, contacts=RECORDS,
                        invalid_contacts=INVALID, seed=seed % 1000)
    worker = worker_process()
    handle = await stack.start()
    for n, step in enumerate(plan, 1):
        floor = _rows(stack.connection)
        if step == "commit_watermark":
            # Every page upserted, the window not yet committed: the commit is next.
            await until(lambda: _rows(stack.connection) == RECORDS - INVALID, 300, "last page")
        elif step == "refresh_token":
            # A 401 forces a refresh; a slow token endpoint keeps it in flight long enough.
            stack.sandbox.inject("slow", target="token", delay_s=1.5)
            stack.sandbox.expire_access_tokens()
            await _in_flight(handle, step)
        elif step == "fetch_page":
            stack.sandbox.inject("slow", delay_s=1.5)
            await _in_flight(handle, step)
        elif step == "anywhere":
            await asyncio.sleep(rng.uniform(0.0, 0.5))  # a random instant of the seeded plan
        else:
            await _in_flight(handle, step)
        worker.kill()
        print(f"kill {n}: during {step}, rows {floor} -> {_rows(stack.connection)}")
        worker.start()
        if step != "commit_watermark":
            await until(lambda floor=floor: _rows(stack.connection) > floor, 180,
                        f"progress after kill {n}")
    await asyncio.wait_for(handle.result(), timeout=600)
    status = (await handle.describe()).status
    assert status == WorkflowExecutionStatus.COMPLETED

    assert worker.starts == len(plan) + 1
    stack.assert_destination_equals_sandbox()
    assert sorted(stack.rejected()) == sorted(stack.sandbox.invalid_ids())
    newest = max(r["source_updated_at"] for r in stack.destination().values())
    assert stack.state().watermark == newest
    assert stack.state().records_synced == RECORDS - INVALID  # the window counted once
