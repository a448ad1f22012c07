"""A Salesforce sandbox over HTTP, a connection to it, and a worker on the dev server."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from sqlalchemy import select
from temporalio.client import Client, WorkflowHandle
from temporalio.service import RPCError

from connectors.mapping import Mapping, apply
from connectors.registry import build
from sandbox import SandboxServer
from sandbox.salesforce_app import create_app
from sandbox.salesforce_state import SalesforceSandbox
from starter import connections as connection_service
from store import connections, vault
from store.db import engine
from store.schema import rejected_records
from tests.integration.conftest import worker
from workflows.names import WORKFLOW_QUEUE, WORKFLOW_TYPE, workflow_id

__all__ = ["worker", "ProviderStack", "sf_stack"]
_names = itertools.count(1)


@dataclass
class ProviderStack:
    """A connection of any provider, the syncs started on it, and what its tables hold."""

    client: Client
    connection: str
    records: Callable[[str], list[dict[str, Any]]]  # the provider's records of a stream
    handles: list[WorkflowHandle[Any, Any]] = field(default_factory=list)

    def mapping(self, stream: str) -> Mapping:
        with engine().connect() as conn:
            row = connections.get(conn, self.connection)
        return build(row.provider, row.config)[1][stream]

    async def start(self, stream: str, **extra: Any) -> WorkflowHandle[Any, Any]:
        handle = await self.client.start_workflow(
            WORKFLOW_TYPE, {"connection": self.connection, "stream": stream, **extra},
            id=workflow_id(self.connection, stream), task_queue=WORKFLOW_QUEUE,
        )
        self.handles.append(handle)
        return handle

    async def sync(self, stream: str, **extra: Any) -> dict[str, Any]:
        handle = await self.start(stream, **extra)
        return await asyncio.wait_for(handle.result(), timeout=300)

    def destination(self, stream: str) -> dict[str, dict[str, Any]]:
        table = self.mapping(stream).table
        with engine().connect() as conn:
            rows = conn.execute(select(table).where(table.c.connection == self.connection,
                                                    table.c.stream == stream))
            return {r.external_id: dict(r._mapping) for r in rows}

    def rejected(self, stream: str) -> dict[str, str]:
        with engine().connect() as conn:
            rows = conn.execute(select(rejected_records).where(
                rejected_records.c.connection == self.connection,
                rejected_records.c.stream == stream))
            return {r.external_id: r.error for r in rows}

    def expected(self, stream: str) -> dict[str, dict[str, Any]]:
        """The provider's records through the connection's own mapping."""
        mapping = self.mapping(stream)
        rows = {}
        for record in self.records(stream):
            row, _ = apply(mapping, record)
            if row is not None:
                rows[row["external_id"]] = row
        return rows

    def assert_destination_equals_provider(self, stream: str) -> None:
        expected, actual = self.expected(stream), self.destination(stream)
        assert sorted(actual) == sorted(expected), (
            f"missing {sorted(set(expected) - set(actual))[:5]}, "
            f"extra {sorted(set(actual) - set(expected))[:5]}")
        for external_id, row in expected.items():
            for column, value in row.items():
                assert actual[external_id][column] == value, (external_id, column)

    async def stop(self) -> None:
        for handle in self.handles:
            with contextlib.suppress(RPCError):
                await handle.terminate("test teardown")


SOBJECT = {"contacts": "Contact", "companies": "Account", "deals": "Opportunity"}


@dataclass
class SalesforceStack(ProviderStack):
    sandbox: SalesforceSandbox = field(default_factory=SalesforceSandbox)
    url: str = ""


@pytest.fixture
async def sf_stack(
    worker: Client, database_url: str
) -> AsyncIterator[Callable[..., SalesforceStack]]:
    servers: list[SandboxServer] = []
    stacks: list[SalesforceStack] = []

    def make(settings: dict[str, Any] | None = None, jwt: bool = False,
             **sandbox_args: Any) -> SalesforceStack:
        sandbox = SalesforceSandbox(**sandbox_args)
        server = SandboxServer(sandbox, app=create_app(sandbox)).start()
        servers.append(server)
        name = f"acme-sf-{next(_names)}"
        config = {"base_url": server.url, "token_url": f"{server.url}/services/oauth2/token",
                  "client_id": sandbox.client_id, "batch_size": 200, **(settings or {})}
        if jwt:
            config |= {"credential_type": "jwt_bearer", "username": sandbox.username}
            secrets = vault.Secrets(sandbox.private_key_pem, "")
        else:
            secrets = vault.Secrets(sandbox.client_secret, sandbox.refresh_token)
        connection_service.add(name, "salesforce", "acme", config, secrets)

        def records(stream: str) -> list[dict[str, Any]]:
            return sandbox.records(SOBJECT[stream])

        stack = SalesforceStack(worker, name, records, sandbox=sandbox, url=server.url)
        stacks.append(stack)
        return stack

    yield make
    for stack in stacks:
        await stack.stop()
    for server in servers:
        server.stop()
