"""A sandbox over HTTP, a connection registered to it, the syncs started on it, and helpers
to compare the destination with the sandbox: one stack for every provider."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import itertools
import json
import os
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select
from starlette.applications import Starlette
from temporalio.client import Client, WorkflowHandle
from temporalio.service import RPCError

from connectors.hubspot_api import DEFAULT_API_VERSION, Paths
from connectors.mapping import Mapping
from connectors.registry import build
from connectors.rest_config import load_config
from sandbox import HubSpotSandbox, SandboxServer
from sandbox.rest_example import PeopleApi
from sandbox.rest_example import create_app as people_app
from sandbox.salesforce_app import create_app as salesforce_app
from sandbox.salesforce_state import SalesforceSandbox
from starter import connections as connection_service
from store import connections, vault
from store.db import engine
from store.schema import rejected_records, stream_state
from tests.support import expected
from tests.support.polling import until
from workflows.names import WORKFLOW_QUEUE, WORKFLOW_TYPE, workflow_id

EXAMPLES = Path(__file__).resolve().parents[2] / "connectors" / "examples"
SOBJECT = {"contacts": "Contact", "companies": "Account", "deals": "Opportunity"}
# Keys `rest_people(**changes)` sets on the connection; the rest go to the people stream.
CONNECTION_LEVEL = ("auth", "error_in_body", "lookback_s", "start_date", "parallel_fetches",
                    "timeout_s", "max_response_bytes", "rate_limit",
                    "requests_per_second")
_names = itertools.count(1)
# The HubSpot API version of stacks that do not name one (the connector's default when unset):
# TEST_HUBSPOT_API_VERSION=v3 runs every HubSpot test on the legacy paths.
HUBSPOT_API_VERSION = os.environ.get("TEST_HUBSPOT_API_VERSION")
Expectation = Callable[[dict[str, Any]], dict[str, Any] | None]


@dataclass
class Stack:
    """A connection of any provider on a sandbox, and what its tables hold.

    `records(stream)` are the sandbox's raw records; `expect[stream]` turns one into the row the
    destination must hold (tests/support/expected.py, written by hand), None if rejected.
    """

    client: Client
    connection: str
    sandbox: Any
    server: SandboxServer
    records: Callable[[str], list[dict[str, Any]]]
    expect: dict[str, Expectation]
    stream: str = "contacts"
    handles: list[WorkflowHandle[Any, Any]] = field(default_factory=list)
    hubspot_paths: Paths = field(default_factory=Paths)  # the paths a HubSpot stack requests

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def workflow_id(self) -> str:
        return workflow_id(self.connection, self.stream)

    def provider_requests(self, path: str) -> list[float]:
        """When each request for `path` reached the sandbox (epoch seconds)."""
        return [at for at, got in self.server.requests if got == path]

    def mapping(self, stream: str | None = None) -> Mapping:
        with engine().connect() as conn:
            row = connections.get(conn, self.connection)
        return build(row.provider, row.config)[1][stream or self.stream]

    async def start(self, stream: str | None = None, **extra: Any) -> WorkflowHandle[Any, Any]:
        stream = stream or self.stream
        handle = await self.client.start_workflow(
            WORKFLOW_TYPE, {"connection": self.connection, "stream": stream, **extra},
            id=workflow_id(self.connection, stream), task_queue=WORKFLOW_QUEUE,
        )
        self.handles.append(handle)
        return handle

    async def sync(self, stream: str | None = None, **extra: Any) -> dict[str, Any]:
        """One complete cycle (no `every`): the workflow's summary."""
        handle = await self.start(stream, **extra)
        return await asyncio.wait_for(handle.result(), timeout=300)

    def destination(self, stream: str | None = None) -> dict[str, dict[str, Any]]:
        stream = stream or self.stream
        table = self.mapping(stream).table
        with engine().connect() as conn:
            rows = conn.execute(select(table).where(table.c.connection == self.connection,
                                                    table.c.stream == stream))
            return {r.external_id: dict(r._mapping) for r in rows}

    def rejected(self, stream: str | None = None) -> dict[str, str]:
        with engine().connect() as conn:
            rows = conn.execute(select(rejected_records).where(
                rejected_records.c.connection == self.connection,
                rejected_records.c.stream == (stream or self.stream)))
            return {r.external_id: r.error for r in rows}

    def state(self, stream: str | None = None) -> Any:
        with engine().connect() as conn:
            return conn.execute(select(stream_state).where(
                stream_state.c.connection == self.connection,
                stream_state.c.stream == (stream or self.stream))).one_or_none()

    def expected(self, stream: str | None = None) -> dict[str, dict[str, Any]]:
        """What the destination must hold: the sandbox's records, expected by hand."""
        stream = stream or self.stream
        rows = {}
        for record in self.records(stream):
            row = self.expect[stream](record)
            if row is not None:
                rows[row["external_id"]] = row
        return rows

    def assert_destination_equals_sandbox(self, stream: str | None = None) -> None:
        expected, actual = self.expected(stream), self.destination(stream)
        assert sorted(actual) == sorted(expected), (
            f"missing {sorted(set(expected) - set(actual))[:10]}, "
            f"extra {sorted(set(actual) - set(expected))[:10]}"
        )
        for external_id, row in expected.items():
            got = actual[external_id]
            for column, value in row.items():
                assert got[column] == value, (external_id, column, got[column], value)


class Stacks:
    """Makes stacks on one Temporal client and leaves nothing running when closed."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.made: list[Stack] = []

    def _add(self, provider: str, prefix: str, config: dict[str, Any], secrets: vault.Secrets,
             sandbox: Any, server: SandboxServer, records: Callable[[str], list[dict[str, Any]]],
             expect: dict[str, Expectation], stream: str = "contacts") -> Stack:
        name = f"{prefix}-{next(_names)}"
        connection_service.add(name, provider, "acme", copy.deepcopy(config), secrets)
        self.made.append(Stack(self.client, name, sandbox, server, records, expect, stream))
        return self.made[-1]

    def hubspot(self, connection_settings: dict[str, Any] | None = None,
                api_version: str | None = None, **sandbox_args: Any) -> Stack:
        """`api_version`: the connection's (else HUBSPOT_API_VERSION, else the default)."""
        version = api_version or HUBSPOT_API_VERSION
        sandbox_args.setdefault("rate_limit", 100_000)
        sandbox_args.setdefault("search_per_second", 100_000)
        sandbox = HubSpotSandbox(**sandbox_args)
        server = SandboxServer(sandbox).start()
        config = {
            "base_url": server.url,
            "token_url": f"{server.url}/oauth/v1/token",
            "client_id": sandbox.client_id,
            # The sandbox's own limits are what tests exercise; the server-side limit of
            # production-shaped workers (worker.py) must not slow every test down.
            "requests_per_second": 10_000, "search_requests_per_second": 10_000,
            **({"api_version": version} if version else {}),
            **(connection_settings or {}),
        }
        stack = self._add("hubspot", "acme", config,
                          vault.Secrets(sandbox.client_secret, sandbox.refresh_token),
                          sandbox, server, sandbox.records,
                          {"contacts": expected.hubspot_contact,
                           "companies": expected.hubspot_company, "deals": expected.hubspot_deal})
        stack.hubspot_paths = Paths(config.get("api_version", DEFAULT_API_VERSION))
        return stack

    def salesforce(self, settings: dict[str, Any] | None = None, jwt: bool = False,
                   app: Callable[[SalesforceSandbox], Starlette] = salesforce_app,
                   **sandbox_args: Any) -> Stack:
        sandbox = SalesforceSandbox(**sandbox_args)
        server = SandboxServer(sandbox, app=app(sandbox)).start()
        config = {"base_url": server.url, "token_url": f"{server.url}/services/oauth2/token",
                  "client_id": sandbox.client_id, "batch_size": 200, **(settings or {})}
        if jwt:
            config |= {"credential_type": "jwt_bearer", "username": sandbox.username}
            secrets = vault.Secrets(sandbox.private_key_pem, "")
        else:
            secrets = vault.Secrets(sandbox.client_secret, sandbox.refresh_token)
        return self._add(
            "salesforce", "acme-sf", config, secrets, sandbox, server,
            lambda stream: sandbox.records(SOBJECT[stream]),
            {"contacts": expected.salesforce_contact, "companies": expected.salesforce_account,
             "deals": expected.salesforce_opportunity})

    def rest_hubspot(self, **sandbox_args: Any) -> Stack:
        """The declarative REST connector configured for the HubSpot sandbox."""
        sandbox = HubSpotSandbox(rate_limit=100_000, search_per_second=100_000, **sandbox_args)
        server = SandboxServer(sandbox).start()
        config = load_config(EXAMPLES / "hubspot_like.toml")
        config["base_url"] = server.url
        config["auth"]["client_id"] = sandbox.client_id
        return self._add(
            "rest", "acme-rest", config,
            vault.Secrets(sandbox.client_secret, sandbox.refresh_token), sandbox, server,
            lambda stream: sandbox.records("contacts"),
            {"contacts": lambda record: expected.hubspot_contact(record, record_times=True)})

    def rest_people(self, api: PeopleApi, app: Callable[[Any], Starlette] = people_app,
                    **changes: Any) -> Stack:
        """connectors/examples/people_api.toml against `app(api)` (by default the people API),
        with `changes` to its settings."""
        server = SandboxServer(api, app=app(api)).start()
        config = load_config(EXAMPLES / "people_api.toml")
        config["base_url"] = server.url
        stream = config["streams"]["people"]
        for key, value in changes.items():
            (config if key in CONNECTION_LEVEL else stream)[key] = value
        return self._add("rest", "acme-rest", config, vault.Secrets(api.api_key, ""), api,
                         server, lambda stream: api.people(), {"people": expected.person},
                         stream="people")

    async def close(self) -> None:
        # Leave nothing running for the next test, which may use another database. By id, not
        # by a visibility query: visibility lags behind a run that has just continued as new.
        for stack in self.made:
            for wid in {h.id for h in stack.handles} | {stack.workflow_id}:
                with contextlib.suppress(RPCError):
                    await self.client.get_workflow_handle(wid).terminate("test teardown")
        for stack in self.made:
            stack.server.stop()


@contextlib.asynccontextmanager
async def stack_factory(client: Client) -> AsyncIterator[Stacks]:
    stacks = Stacks(client)
    try:
        yield stacks
    finally:
        await stacks.close()


async def wait_for_status(
    handle: WorkflowHandle[Any, Any], predicate: Callable[[dict[str, Any]], bool],
    timeout: float = 60,
) -> dict[str, Any]:
    """Poll the `status` query until the predicate holds (queries are cheap; no fixed sleeps)."""
    seen: list[dict[str, Any]] = []

    async def matching() -> dict[str, Any] | None:
        seen.append(await handle.query("status"))
        return seen[-1] if predicate(seen[-1]) else None

    try:
        status: dict[str, Any] = await until(matching, timeout, "the status to match")
    except AssertionError:
        raise AssertionError(f"status never matched: {json.dumps(seen[-1:])}") from None
    return status
