"""An in-process worker on the real dev server, a sandbox over HTTP, and helpers to compare."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from sqlalchemy import select
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from connectors.mapping import apply, default_mapping
from sandbox import HubSpotSandbox, SandboxServer
from starter import connections as connection_service
from store import vault
from store.db import engine
from store.schema import contacts, rejected_records, stream_state
from worker import build_workers
from workflows.names import WORKFLOW_QUEUE, WORKFLOW_TYPE, workflow_id

_names = itertools.count(1)


@dataclass
class Stack:
    client: Client
    sandbox: HubSpotSandbox
    url: str
    connection: str
    stream: str = "contacts"
    handles: list[WorkflowHandle[Any, Any]] = field(default_factory=list)

    @property
    def workflow_id(self) -> str:
        return workflow_id(self.connection, self.stream)

    async def start(self, **extra: Any) -> WorkflowHandle[Any, Any]:
        handle = await self.client.start_workflow(
            WORKFLOW_TYPE, {"connection": self.connection, "stream": self.stream, **extra},
            id=self.workflow_id, task_queue=WORKFLOW_QUEUE,
        )
        self.handles.append(handle)
        return handle

    async def sync(self, **extra: Any) -> dict[str, Any]:
        """One complete cycle (no `every`): the workflow's summary."""
        handle = await self.start(**extra)
        return await asyncio.wait_for(handle.result(), timeout=300)

    def destination(self) -> dict[str, dict[str, Any]]:
        with engine().connect() as conn:
            rows = conn.execute(select(contacts).where(contacts.c.connection == self.connection))
            return {r.external_id: dict(r._mapping) for r in rows}

    def rejected(self) -> dict[str, str]:
        with engine().connect() as conn:
            rows = conn.execute(select(rejected_records).where(
                rejected_records.c.connection == self.connection))
            return {r.external_id: r.error for r in rows}

    def state(self) -> Any:
        with engine().connect() as conn:
            return conn.execute(select(stream_state).where(
                stream_state.c.connection == self.connection)).one_or_none()

    def expected(self) -> dict[str, dict[str, Any]]:
        """What the destination must hold: the sandbox's records through the same mapping."""
        mapping = default_mapping("hubspot", "contacts")
        rows = {}
        for record in self.sandbox.records("contacts"):
            row, errors = apply(mapping, record)
            if row is not None:
                rows[row["external_id"]] = row
        return rows

    def assert_destination_equals_sandbox(self) -> None:
        expected = self.expected()
        actual = self.destination()
        assert sorted(actual) == sorted(expected), (
            f"missing {sorted(set(expected) - set(actual))[:10]}, "
            f"extra {sorted(set(actual) - set(expected))[:10]}"
        )
        for external_id, row in expected.items():
            got = actual[external_id]
            for column, value in row.items():
                assert got[column] == value, (external_id, column, got[column], value)


@pytest.fixture
async def worker(temporal: WorkflowEnvironment, database_url: str) -> AsyncIterator[Client]:
    client = temporal.client
    workers = build_workers(client)
    runs = [asyncio.create_task(w.run()) for w in workers]
    try:
        yield client
    finally:
        await asyncio.gather(*(w.shutdown() for w in workers))
        await asyncio.gather(*runs, return_exceptions=True)


@contextlib.asynccontextmanager
async def stack_factory(client: Client) -> AsyncIterator[Callable[..., Stack]]:
    """make(settings, **sandbox_args): a sandbox over HTTP and a connection registered to it."""
    servers: list[SandboxServer] = []
    stacks: list[Stack] = []

    def make(connection_settings: dict[str, Any] | None = None, **sandbox_args: Any) -> Stack:
        sandbox_args.setdefault("rate_limit", 100_000)
        sandbox_args.setdefault("search_per_second", 100_000)
        sandbox = HubSpotSandbox(**sandbox_args)
        server = SandboxServer(sandbox).start()
        servers.append(server)
        name = f"acme-{next(_names)}"
        config = {
            "base_url": server.url,
            "token_url": f"{server.url}/oauth/v1/token",
            "client_id": sandbox.client_id,
            # The sandbox's own limits are what tests exercise; the server-side limit of
            # production-shaped workers (worker.py) must not slow every test down.
            "requests_per_second": 10_000, "search_requests_per_second": 10_000,
            **(connection_settings or {}),
        }
        connection_service.add(
            name, "hubspot", "acme", config,
            vault.Secrets(sandbox.client_secret, sandbox.refresh_token),
        )
        stacks.append(Stack(client, sandbox, server.url, name))
        return stacks[-1]

    yield make
    # Leave nothing running for the next test, which may use another database. By id, not by
    # a visibility query: visibility lags behind a run that has just continued as new.
    for stack in stacks:
        with contextlib.suppress(RPCError):
            await client.get_workflow_handle(stack.workflow_id).terminate("test teardown")
    for server in servers:
        server.stop()


@pytest.fixture
async def make_stack(worker: Client, database_url: str) -> AsyncIterator[Callable[..., Stack]]:
    async with stack_factory(worker) as make:
        yield make


async def wait_for_status(
    handle: WorkflowHandle[Any, Any], predicate: Callable[[dict[str, Any]], bool],
    timeout: float = 60,
) -> dict[str, Any]:
    """Poll the `status` query until the predicate holds (queries are cheap; no fixed sleeps)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        status = await handle.query("status")
        if predicate(status):
            return status
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"status never matched: {json.dumps(status)}")
        await asyncio.sleep(0.05)


async def is_running(handle: WorkflowHandle[Any, Any]) -> bool:
    return (await handle.describe()).status == WorkflowExecutionStatus.RUNNING
