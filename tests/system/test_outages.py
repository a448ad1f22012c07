"""The Temporal server restarting, the database going away, upstream changes mid-sync."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import make_url
from temporalio.client import Client
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError

from infra.times import to_ms
from store.db import engine
from store.schema import contacts
from tests.support.network import TcpProxy
from tests.support.polling import until
from tests.support.stacks import stack_factory
from workflows.names import WORKFLOW_QUEUE, WORKFLOW_TYPE


def _rows(connection: str) -> int:
    with engine().connect() as conn:
        return conn.execute(select(func.count()).select_from(contacts).where(
            contacts.c.connection == connection)).scalar_one()


async def _result(client: Client, workflow_id: str, timeout: float = 300) -> Any:
    """The workflow's result, riding out a server that is away for a while."""
    return await until(lambda: client.get_workflow_handle(workflow_id).result(), timeout,
                       "the workflow's result", interval=0.5, ignore=(RPCError,))


async def test_temporal_server_restart_mid_sync(
    dev_server: Any, worker_process: Any, database_url: str
) -> None:
    client = await Client.connect(dev_server.address)
    async with stack_factory(client) as stacks:
        stack = stacks.hubspot({"list_page_size": 50}, contacts=4_000, seed=41)
        worker_process(address=dev_server.address)
        await stack.start()
        await until(lambda: _rows(stack.connection) > 800, 120, "a fifth of the records")
        dev_server.stop()
        rows_while_down = _rows(stack.connection)
        await dev_server.start()
        client = await Client.connect(dev_server.address)
        await _result(client, stack.workflow_id)
        assert rows_while_down < 4_000  # it really was mid-sync
        stack.assert_destination_equals_sandbox()


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_database_outage_mid_sync(
    process_stack: Any, worker_process: Any, database_url: str
) -> None:
    url = make_url(database_url)
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432)
    await proxy.start()
    try:
        stack = process_stack({"list_page_size": 50}, contacts=4_000, seed=42)
        proxied = url.set(host="127.0.0.1", port=proxy.port)
        worker_process(url=proxied.render_as_string(hide_password=False))
        handle = await stack.start()
        await until(lambda: _rows(stack.connection) > 800, 120, "a fifth of the records")
        proxy.cut()
        await asyncio.sleep(3)  # the outage's length, not a synchronisation
        assert _rows(stack.connection) < 4_000
        proxy.restore()
        await asyncio.wait_for(handle.result(), timeout=300)
        assert proxy.cut_connections + proxy.refused > 0
        stack.assert_destination_equals_sandbox()
    finally:
        await proxy.close()


async def test_upstream_changes_during_a_sync_arrive(make_stack: Any) -> None:
    stack = make_stack({"list_page_size": 50, "lookback_s": 0}, contacts=3_000, seed=43)
    handle = await stack.start()
    await until(lambda: _rows(stack.connection) > 1_000, 120, "a third of the records")
    stack.sandbox.modify_contacts(n=60)
    stack.sandbox.create_contacts(40)
    await handle.result()
    watermark = to_ms(stack.state().watermark)
    # Late arrivals stamped with exactly the watermark's millisecond.
    stack.sandbox.create_contacts(7, lastmodified_ms=watermark)
    await stack.sync()
    stack.assert_destination_equals_sandbox()


async def test_two_starts_of_one_stream_run_one_sync(make_stack: Any) -> None:
    stack = make_stack(contacts=500, seed=44)
    results = await asyncio.gather(
        *(stack.client.start_workflow(
            WORKFLOW_TYPE, {"connection": stack.connection, "stream": "contacts"},
            id=stack.workflow_id, task_queue=WORKFLOW_QUEUE) for _ in range(2)),
        return_exceptions=True,
    )
    refused = [r for r in results if isinstance(r, WorkflowAlreadyStartedError)]
    started = [r for r in results if not isinstance(r, BaseException)]
    assert len(refused) == 1 and len(started) == 1
    await started[0].result()
    stack.assert_destination_equals_sandbox()
