"""`python -m starter demo`: a real sync through a 429 storm, a token expiry and 5xx errors.

Starts the Temporal dev server (unless one listens already), the HubSpot sandbox and a worker as
child processes, registers `demo-hubspot`, syncs its companies and deals with their associations,
syncs its contacts while injecting faults through the sandbox's control API, modifies records
upstream and shows the incremental sync pick them up, then deletes companies upstream and shows
the next deletes pass archive them.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console, Group
from rich.live import Live
from rich.panel import Panel
from rich.progress_bar import ProgressBar
from rich.table import Table
from sqlalchemy import func, select
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle
from temporalio.service import RPCError, RPCStatusCode

from infra import rate_limits
from infra.temporal import connect, ensure_search_attributes
from infra.times import utcnow
from starter import connections as connection_service
from starter import syncs
from starter.errors import CliError
from starter.processes import ROOT, Processes, free_port, listening, temporal_cli
from store import connections, vault
from store.db import engine
from store.schema import (
    associations,
    companies,
    contacts,
    credentials,
    rejected_records,
    stream_state,
)
from store.settings import home
from workflows.names import SEARCH_ATTRIBUTES, workflow_id

CONNECTION, STREAM, TENANT = "demo-hubspot", "contacts", "demo"
WORKFLOW_ID = workflow_id(CONNECTION, STREAM)
MODIFIED = 50
READY_TIMEOUT_S = 60
SYNC_TIMEOUT_S = 150
# 8 requests a second: 30 pages take a few seconds and the sync runs into the limit for real.
RATE_PER_S = 8
COMPANIES, DEALS = 40, 80  # each deal associated with a company and a contact
DELETED = ["1001", "1002", "1003"]  # companies deleted upstream once synced
# The shortest interval the setting allows: the demo waits out one to show a deletion.
DELETES_EVERY_S = 60
console = Console()


@dataclass
class Fault:
    """Injected once the sync has fetched `at` of the records."""

    at: float
    label: str
    path: str
    body: dict[str, Any] = field(default_factory=dict)


FAULTS = [
    Fault(0.15, "429 storm: 5 × rate_limit, Retry-After 1 s", "faults",
          {"kind": "rate_limit", "count": 5, "retry_after": 1}),
    Fault(0.40, "token expiry: every access token revoked", "tokens/expire"),
    Fault(0.65, "3 × 5xx (500, 502, 503)", "faults", {"kind": "server_error", "count": 3}),
]


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # a SIGTERM (make killed, CI timeout) cleans up like Ctrl-C


def run_demo(keep: bool, contacts: int, port: int, ui_port: int) -> None:
    processes = Processes(home())
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        asyncio.run(_demo(processes, keep, contacts, port, ui_port))
        if keep:
            console.print("\n[bold]Servers keep running[/] (logs in "
                          f"{home()}/*.log). Press Ctrl-C to stop them.")
            while True:
                processes.check()
                time.sleep(1)
    except KeyboardInterrupt:
        console.print("\ninterrupted")
    finally:
        console.print("stopping the processes the demo started…")
        processes.stop_all()


async def _demo(processes: Processes, keep: bool, contacts: int, port: int, ui_port: int) -> None:
    started_at = time.monotonic()
    address = f"localhost:{port}"
    env = {**os.environ, "TEMPORAL_ADDRESS": address, "PYTHONUNBUFFERED": "1"}
    os.environ["TEMPORAL_ADDRESS"] = address
    vault.ensure_key()  # before the worker starts, so both read the same key

    if listening(port):
        console.print(f"Temporal: reusing the server already listening on {address}")
    else:
        argv = [temporal_cli(), "server", "start-dev", "--db-filename",
                str(home() / "temporal.db"), "--port", str(port), "--ui-port", str(ui_port),
                "--log-level", "error", *rate_limits.DEV_SERVER_ARGS]
        for key in SEARCH_ATTRIBUTES:
            argv += ["--search-attribute", f"{key.name}=Keyword"]
        log = processes.start("temporal", argv, env)
        console.print(f"Temporal: starting the dev server on {address} (log {log})")
    client = await _wait_for_temporal(processes, address)
    await ensure_search_attributes(client)

    sandbox_port = free_port()
    sandbox_url = f"http://127.0.0.1:{sandbox_port}"
    processes.start("sandbox", [
        sys.executable, "-m", "sandbox", "--port", str(sandbox_port), "--contacts",
        str(contacts), "--invalid", "5", "--seed", "42", "--rate-limit", str(RATE_PER_S),
        "--interval-ms", "1000", "--companies", str(COMPANIES), "--deals", str(DEALS)], env)
    log = processes.start("worker", [sys.executable, str(ROOT / "worker.py")], env)
    async with httpx.AsyncClient(base_url=f"{sandbox_url}/_sandbox", timeout=10) as sandbox:
        creds = await _wait_for_sandbox(processes, sandbox)
        console.print(f"Sandbox: HubSpot simulator with {contacts:,} contacts (5 invalid) at "
                      f"{sandbox_url}, rate limit {RATE_PER_S} requests/s")
        console.print(f"Worker: started (log {log})")
        _register(sandbox_url, creds)
        await _stop_earlier_demo_sync(client)
        before = _counters()
        handle = await _syncs(processes, client, sandbox, contacts)
        _summary(before, _counters(), (await sandbox.get("stats")).json(),
                 time.monotonic() - started_at)
    console.print(_commands(port, ui_port), highlight=False, soft_wrap=True)
    if not keep:  # leave no sync running on a server that outlives the demo
        await handle.terminate("demo finished")


async def _syncs(
    processes: Processes, client: Client, sandbox: httpx.AsyncClient, contacts: int
) -> WorkflowHandle[Any, Any]:
    """Companies and deals with their associations; a full sync of the contacts through
    injected faults, then an incremental one after upstream changes; then a deletion."""
    console.rule("Companies and deals, with their associations")
    first_pass = time.monotonic()  # each stream's first cycle ends with a deletes pass
    await _companies_and_deals(client, sandbox)

    console.rule("Full sync")
    handle = await syncs.start(CONNECTION, STREAM, full_refresh=True, client=client)
    await _watch(processes, handle, sandbox, contacts, FAULTS,
                 done=lambda s: s.get("state") == "completed")

    console.rule("Incremental sync")
    modified = (await _control(sandbox, "contacts/modify", {"n": MODIFIED}))["ids"]
    console.print(f"modified {len(modified)} contacts upstream (POST /_sandbox/contacts/modify)")
    since = utcnow()
    # `every` keeps the workflow running afterwards, ready for the pause/backfill commands.
    handle = await syncs.start(CONNECTION, STREAM, every="15m", client=client)
    incremental = await _watch(processes, handle, sandbox, MODIFIED, [],
                               done=lambda s: s.get("state") == "sleeping")
    _show_incremental(incremental, modified, since)

    console.rule("A deletion upstream")
    await _control(sandbox, "objects/companies/archive", {"ids": DELETED})
    console.print(f"deleted companies {', '.join(DELETED)} upstream "
                  "(POST /_sandbox/objects/companies/archive)")
    wait_s = first_pass + DELETES_EVERY_S + 1 - time.monotonic()
    if wait_s > 0:  # search never returns a deleted record: the deletes pass finds it
        console.print(f"waiting {wait_s:.0f} s for the companies' next deletes pass "
                      f"(deletes_every_s = {DELETES_EVERY_S})")
        await asyncio.sleep(wait_s)
    status = await (await syncs.start(CONNECTION, "companies", client=client)).result()
    with engine().connect() as conn:
        archived: set[str] = set(conn.execute(select(companies.c.external_id).where(
            companies.c.connection == CONNECTION, companies.c.archived.is_(True),
            companies.c.external_id.in_(DELETED))).scalars())
    exact = archived == set(DELETED)
    console.print(f"incremental cycle of companies fetched {status['fetched']} records; its "
                  f"deletes pass archived {len(archived)} rows"
                  + (" = [green]exactly the deleted companies[/]" if exact
                     else f": [red]expected {', '.join(DELETED)}[/]"), highlight=False)
    return handle


async def _companies_and_deals(client: Client, sandbox: httpx.AsyncClient) -> None:
    """Associate every deal with a company and a contact upstream, then sync both streams."""
    for i in range(DEALS):
        deal = str(1001 + i)
        for to_type, to_id in (("companies", 1001 + i % COMPANIES), ("contacts", 1001 + i)):
            await _control(sandbox, "associations/associate", {
                "from_type": "deals", "from_id": deal, "to_type": to_type, "to_id": str(to_id)})
    for stream in ("companies", "deals"):
        summary = await (await syncs.start(CONNECTION, stream, full_refresh=True,
                                           client=client)).result()
        console.print(f"{stream}: {summary['upserted']} upserted, {summary['rejected']} rejected")
    with engine().connect() as conn:
        found = conn.execute(select(associations.c.to_entity, func.count()).where(
            associations.c.connection == CONNECTION, associations.c.from_entity == "deals",
            associations.c.archived.is_(False)).group_by(associations.c.to_entity)).all()
    console.print("associations of deals in the destination: "
                  + ", ".join(f"{count} to {entity}" for entity, count in sorted(found)),
                  highlight=False)


async def _wait_for_temporal(processes: Processes, address: str) -> Client:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while True:
        processes.check()
        try:
            return await asyncio.wait_for(connect(address), 2)
        except (RuntimeError, TimeoutError):
            if time.monotonic() > deadline:
                raise CliError(f"Temporal did not accept connections on {address} within "
                               f"{READY_TIMEOUT_S}s") from None
            await asyncio.sleep(0.2)


async def _wait_for_sandbox(processes: Processes, sandbox: httpx.AsyncClient) -> dict[str, str]:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while True:
        processes.check()
        try:
            response = await sandbox.get("credentials")
            response.raise_for_status()
            return dict(response.json())
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise CliError(f"the sandbox did not start within {READY_TIMEOUT_S}s") from None
            await asyncio.sleep(0.1)


def _register(url: str, creds: dict[str, str]) -> None:
    settings = {"base_url": url, "token_url": f"{url}/oauth/v1/token",
                "client_id": creds["client_id"], "deletes_every_s": DELETES_EVERY_S}
    secrets = vault.Secrets(creds["client_secret"], creds["refresh_token"])
    with engine().connect() as conn:
        exists = any(row.name == CONNECTION for row in connections.all_(conn))
    if exists:  # from an earlier run: point it at this run's sandbox
        connection_service.update(CONNECTION, settings, secrets)
        console.print(f"Connection: updated [bold]{CONNECTION}[/] (new sandbox URL, credentials)")
    else:
        connection_service.add(CONNECTION, "hubspot", TENANT, settings, secrets)
        console.print(f"Connection: added [bold]{CONNECTION}[/] (tenant {TENANT})")


async def _stop_earlier_demo_sync(client: Client) -> None:
    """An interrupted earlier demo may have left its sync running on a persistent server."""
    handle = client.get_workflow_handle(WORKFLOW_ID)
    try:
        running = (await handle.describe()).status == WorkflowExecutionStatus.RUNNING
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return
        raise
    if running:
        await handle.terminate("superseded by a new demo run")
        console.print(f"terminated the earlier demo's sync {WORKFLOW_ID}")


async def _control(sandbox: httpx.AsyncClient, path: str, body: dict[str, Any]) -> Any:
    response = await sandbox.post(path, json=body)
    response.raise_for_status()
    return response.json()


async def _watch(
    processes: Processes, handle: WorkflowHandle[Any, Any], sandbox: httpx.AsyncClient,
    expected: int, faults: list[Fault], done: Callable[[dict[str, Any]], bool],
) -> dict[str, Any]:
    """Poll the status query into a live panel, injecting faults as progress passes them."""
    pending = list(faults)
    events: list[str] = []
    t0 = time.monotonic()
    deadline = t0 + SYNC_TIMEOUT_S
    status: dict[str, Any] = {}
    with Live(console=console, refresh_per_second=8, transient=False) as live:
        while True:
            processes.check()
            status = await handle.query("status")
            stats = (await sandbox.get("stats")).json()
            window = status.get("window") or {}
            fetched = window.get("fetched", status["this_run"]["fetched"])
            while pending and fetched >= pending[0].at * expected:
                fault = pending.pop(0)
                await _control(sandbox, fault.path, fault.body)
                events.append(f"{time.monotonic() - t0:5.1f}s  injected {fault.label}")
            live.update(_panel(status, stats, fetched, expected, events))
            if status.get("blocked"):
                raise CliError(f"the sync is blocked: {status['blocked']}")
            if done(status):
                break
            if time.monotonic() > deadline:
                raise CliError(f"the sync did not finish within {SYNC_TIMEOUT_S}s "
                               f"(state {status.get('state')})")
            await asyncio.sleep(0.2)
    console.print()
    return status


def _panel(
    status: dict[str, Any], stats: dict[str, Any], fetched: int, expected: int, events: list[str]
) -> Panel:
    totals = status["this_run"]
    window = status.get("window") or {}
    grid = Table.grid(padding=(0, 2))
    grid.add_row("progress", ProgressBar(total=max(expected, 1), completed=min(fetched, expected),
                                         width=40))
    grid.add_row("state", f"[bold]{status['state']}[/]"
                 + (f" ({window['kind']} window, {window['pages']} pages)" if window else ""))
    grid.add_row("fetched", f"{fetched:,} / {expected:,}")
    grid.add_row("records", f"{totals['upserted']:,} upserted, {totals['rejected']} rejected, "
                 f"{totals['pages']} pages, {totals['token_refreshes']} token refreshes")
    grid.add_row("provider", f"{stats['requests']} requests, {stats['responses_429']} × 429, "
                 f"{stats['faults_served']} injected faults served")
    return Panel(Group(grid, *events), title=WORKFLOW_ID, expand=False)


def _counters() -> dict[str, Any]:
    with engine().connect() as conn:
        state = conn.execute(select(stream_state).where(
            stream_state.c.connection == CONNECTION, stream_state.c.stream == STREAM)).first()
        refreshes = conn.execute(select(credentials.c.refresh_count).where(
            credentials.c.connection == CONNECTION)).scalar() or 0
        rejected = conn.execute(select(func.count()).select_from(rejected_records).where(
            rejected_records.c.connection == CONNECTION)).scalar_one()
    return {
        "synced": state.records_synced if state else 0,
        "retries": state.retries if state else 0,
        "errors": dict(state.errors_by_category or {}) if state else {},
        "refreshes": refreshes,
        "rejected": rejected,
    }


def _show_incremental(status: dict[str, Any], modified: list[str], since: datetime) -> None:
    """Compare what the destination changed with what the sandbox modified."""
    with engine().connect() as conn:
        written: set[str] = set(conn.execute(select(contacts.c.external_id).where(
            contacts.c.connection == CONNECTION, contacts.c.synced_at >= since)).scalars())
        rejected: set[str] = set(conn.execute(select(rejected_records.c.external_id).where(
            rejected_records.c.connection == CONNECTION,
            rejected_records.c.external_id.in_(modified))).scalars())
    totals = status["this_run"]
    overlap = totals["fetched"] - len(modified)
    exact = written | rejected == set(modified) and not written & rejected
    console.print(
        f"incremental window fetched {totals['fetched']} records in {totals['pages']} page(s)"
        + (f", {overlap} of them unchanged (re-read by the lookback overlap, not rewritten)"
           if overlap > 0 else "")
        + f".\nDestination: {len(written)} rows rewritten"
        + (f" + {len(rejected)} rejected (invalid email)" if rejected else "")
        + (f" = [green]exactly the {len(modified)} modified contacts[/]" if exact
           else f": [red]differs from the {len(modified)} modified contacts[/]"),
        highlight=False,
    )


def _summary(
    before: dict[str, Any], after: dict[str, Any], stats: dict[str, Any], seconds: float
) -> None:
    errors = {k: v - before["errors"].get(k, 0) for k, v in after["errors"].items()}
    errors = {k: v for k, v in errors.items() if v}
    table = Table(title="Demo summary", show_header=False)
    table.add_row("records synced", f"{after['synced'] - before['synced']:,}")
    table.add_row("records rejected", f"{after['rejected']} (invalid emails, kept with their "
                  "error in rejected_records)")
    table.add_row("retries", str(after["retries"] - before["retries"]))
    table.add_row("token refreshes", str(after["refreshes"] - before["refreshes"]))
    table.add_row("errors by category", ", ".join(f"{k} {v}" for k, v in sorted(errors.items()))
                  or "none")
    table.add_row("provider saw", f"{stats['requests']} requests, {stats['responses_429']} × 429")
    table.add_row("duration", f"{seconds:.0f} s")
    console.print(table)


def _commands(port: int, ui_port: int) -> str:
    """Where to look next; the commands are copy-pasteable from the project directory."""
    python, temporal = _runnable(sys.executable), _runnable(temporal_cli())
    if port != 7233:
        temporal += f" --address localhost:{port}"
    starter = f"{python} -m starter"
    ui = (f"http://localhost:{ui_port}/namespaces/default/workflows?query="
          f"WorkflowId%3D%22{WORKFLOW_ID.replace('/', '%2F')}%22")
    return (
        f"\nWeb UI: {ui}\n"
        "\nWith the servers up (make demo KEEP=1), try:\n"
        f"  {starter} status\n"
        f"  {starter} sync status {CONNECTION} {STREAM}\n"
        f"  {starter} sync pause {CONNECTION} {STREAM}\n"
        f"  {starter} sync backfill {CONNECTION} {STREAM} --since 2024-03-01T00:00:00Z\n"
        f"  {temporal} workflow show --workflow-id {WORKFLOW_ID}\n"
        f"  {temporal} workflow query --workflow-id {WORKFLOW_ID} --type status\n"
        f"  {temporal} workflow signal --workflow-id {WORKFLOW_ID} --name backfill "
        "--input '{\"since\": \"2024-03-01T00:00:00Z\"}'"
    )


def _runnable(path: str) -> str:
    """A path to copy-paste: relative to the current directory when inside it (.venv/bin/...)."""
    try:
        return str(Path(path).relative_to(Path.cwd()))
    except ValueError:
        return path
