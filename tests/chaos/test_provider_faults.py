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
    chaos_stack: Any, worker_process: Any
) -> None:
    """Access tokens live 3 s and every refresh rotates the refresh token: a refresh token
    spent twice would be refused (invalid_grant). Fifty syncs of one connection on two worker
    processes must never spend one twice."""
    stack = chaos_stack({"list_page_size": 20, "refresh_margin_s": 1}, contacts=300, seed=53,
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
