"""Provider faults at random and under concurrency: retried or waited out, nothing lost."""

from __future__ import annotations

import asyncio
from typing import Any

from workflows.names import WORKFLOW_QUEUE, WORKFLOW_TYPE


async def test_twenty_percent_random_server_errors(make_stack: Any) -> None:
    stack = make_stack({"list_page_size": 50}, contacts=2_000, seed=51)
    stack.sandbox.fault_rate("server_error", 0.2, seed=51)
    await stack.sync()
    served = stack.sandbox.stats["faults_served"]
    assert served >= 3  # the faults really happened
    errors = stack.state().errors_by_category
    assert set(errors) <= {"server_error", "timeout"}  # a 504 is a gateway timeout
    assert sum(errors.values()) == served
    stack.assert_destination_equals_sandbox()


async def test_responses_slower_than_the_timeout_are_retried(make_stack: Any) -> None:
    stack = make_stack({"list_page_size": 100, "timeout_s": 0.5}, contacts=500, seed=52)
    stack.sandbox.inject("slow", count=2, delay_s=2.0)
    await stack.sync()
    assert stack.state().errors_by_category == {"timeout": 2}
    stack.assert_destination_equals_sandbox()


async def test_fifty_syncs_share_one_rotating_refresh_token(
    process_stack: Any, worker_process: Any
) -> None:
    """Access tokens live 3 s and every refresh rotates the refresh token: a refresh token
    spent twice would be refused (invalid_grant). Fifty syncs of one connection on two worker
    processes must never spend one twice."""
    stack = process_stack({"list_page_size": 20, "refresh_margin_s": 1}, contacts=300, seed=53,
                        token_ttl_s=3, rotate_refresh_tokens=True)
    worker_process()
    worker_process()
    handles = [
        await stack.client.start_workflow(
            WORKFLOW_TYPE, {"connection": stack.connection, "stream": "contacts"},
            id=f"{stack.workflow_id}/storm-{n}", task_queue=WORKFLOW_QUEUE)
        for n in range(50)
    ]
    summaries = await asyncio.wait_for(asyncio.gather(*(h.result() for h in handles)), 600)
    stats = stack.sandbox.stats
    assert stats["invalid_grants"] == 0
    assert stats["token_refreshes_ok"] >= 2  # tokens really expired during the run
    # Each sync counts the refreshes it performed itself: together, the provider's count.
    assert sum(s["token_refreshes"] for s in summaries) == stats["token_refreshes_ok"]
    stack.assert_destination_equals_sandbox()


async def test_daily_quota_blocks_visibly_then_resumes(make_stack: Any) -> None:
    from sqlalchemy import select

    from starter.status import collect
    from store.db import engine
    from store.schema import stream_state
    from tests.support.polling import until

    def blocked_until() -> Any:
        with engine().connect() as conn:
            return conn.execute(select(stream_state.c.blocked_until).where(
                stream_state.c.connection == stack.connection)).scalar()

    stack = make_stack({"list_page_size": 50}, contacts=300, seed=54)
    # The quota resets in 4 s (a real HubSpot daily quota resets at midnight).
    stack.sandbox.inject("daily_limit", count=1, retry_after=4)
    handle = await stack.start()
    await until(lambda: blocked_until() is not None, 30, "the stream to show blocked-until")
    rows, _ = await collect(target="127.0.0.1:1")  # the database view, Temporal not needed
    row = next(r for r in rows if (r["connection"], r["stream"]) == (stack.connection, "contacts"))
    assert row["rate_limited_until"] is not None
    await handle.result()  # resumed by itself after the reset
    assert blocked_until() is None
    assert stack.state().errors_by_category == {"rate_limited": 1}
    stack.assert_destination_equals_sandbox()
