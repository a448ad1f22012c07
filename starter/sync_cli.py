"""`python -m starter sync ...`: start, signal and inspect one stream's sync."""

from __future__ import annotations

import asyncio
import json
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from infra.times import from_ms_aware, now_ms
from starter import syncs
from starter.errors import USAGE, CliError, handle_errors
from workflows.inputs import parse_backfill
from workflows.names import workflow_id

app = typer.Typer(help="Start, pause, resume, trigger, backfill and inspect syncs.",
                  no_args_is_help=True)
console = Console()

Connection = Annotated[str, typer.Argument(help="Connection name.")]
Stream = Annotated[str, typer.Argument(help="Stream, e.g. contacts.")]
AnyConnection = Annotated[str | None, typer.Argument(
    help="Connection name; leave out with --tenant.", show_default=False)]
AnyStream = Annotated[str | None, typer.Argument(
    help="Stream, e.g. contacts; leave out to signal every running sync of the connection.")]
Tenant = Annotated[str | None, typer.Option(
    "--tenant", help="Signal every running sync of every connection of this tenant.")]


@app.command("start")
@handle_errors
def start(
    connection: Connection,
    stream: Stream,
    every: Annotated[str | None, typer.Option(
        help="Repeat every 30s/15m/1h/1d (30s to 366d); without it, one cycle then the workflow "
             "completes.")
    ] = None,
    full_refresh: Annotated[bool, typer.Option(help="Ignore the watermark.")] = False,
    wait: Annotated[bool, typer.Option(help="Wait for a one-cycle sync to finish.")] = False,
) -> None:
    """Start the sync workflow of one stream (one per stream: a second start is refused)."""
    if wait and every:
        raise CliError("--wait needs a one-cycle sync: drop --every", USAGE)

    async def run() -> dict[str, Any] | None:
        handle = await syncs.start(connection, stream, every, full_refresh)
        console.print(f"started workflow [bold]{handle.id}[/] (run {handle.result_run_id})")
        return await handle.result() if wait else None

    summary = asyncio.run(run())
    if summary is not None:
        console.print_json(data=summary)


def _signal(
    connection: str | None, stream: str | None, tenant: str | None, name: str, arg: Any = None
) -> None:
    if (connection is None) == (tenant is None):
        raise CliError("name a connection (and optionally a stream) or --tenant TENANT", USAGE)
    if stream is not None:
        assert connection is not None
        asyncio.run(syncs.signal(connection, stream, name, arg))
        console.print(f"signalled [bold]{name}[/] to {workflow_id(connection, stream)}")
        return
    ids = asyncio.run(syncs.signal_many(name, arg, connection=connection, tenant=tenant))
    if not ids:
        scope = f"connection {connection!r}" if connection else f"tenant {tenant!r}"
        raise CliError(f"no running sync of {scope}")
    console.print(f"signalled [bold]{name}[/] to {', '.join(ids)}")


@app.command("pause")
@handle_errors
def pause(
    connection: AnyConnection = None, stream: AnyStream = None, tenant: Tenant = None
) -> None:
    """Pause between pages; survives continue-as-new."""
    _signal(connection, stream, tenant, "pause")


@app.command("resume")
@handle_errors
def resume(
    connection: AnyConnection = None, stream: AnyStream = None, tenant: Tenant = None
) -> None:
    """Resume a paused or blocked sync."""
    _signal(connection, stream, tenant, "resume")


@app.command("now")
@handle_errors
def now(connection: AnyConnection = None, stream: AnyStream = None, tenant: Tenant = None) -> None:
    """Start the next cycle now instead of waiting for `every`."""
    _signal(connection, stream, tenant, "sync_now")


@app.command("backfill")
@handle_errors
def backfill(
    since: Annotated[str, typer.Option(help="ISO date/time, e.g. 2025-01-01T00:00:00Z.")],
    connection: AnyConnection = None,
    stream: AnyStream = None,
    until: Annotated[str | None, typer.Option(help="ISO date/time (default: now).")] = None,
    tenant: Tenant = None,
) -> None:
    """Re-sync a time range; the watermark never moves backwards."""
    window = {"since": since} | ({"until": until} if until else {})
    try:
        parse_backfill(window, now_ms())
    except ValueError as exc:
        raise CliError(str(exc), USAGE) from None
    _signal(connection, stream, tenant, "backfill", window)


def _when(ms: int | None) -> str:
    return "-" if ms is None else from_ms_aware(ms).isoformat()


@app.command("status")
@handle_errors
def status(
    connection: Connection,
    stream: Stream,
    as_json: Annotated[bool, typer.Option("--json", help="The raw query result.")] = False,
) -> None:
    """The running workflow's own view: state, pause, block reason, window progress."""
    result = asyncio.run(syncs.status(connection, stream))
    if as_json:
        typer.echo(json.dumps(result, indent=2))
        return
    table = Table(show_header=False, title=workflow_id(connection, stream))
    table.add_row("state", f"[bold]{result['state']}[/]")
    table.add_row("paused", str(result["paused"]))
    if result.get("blocked"):
        table.add_row("blocked", f"[red]{result['blocked']}[/]")
    window = result.get("window")
    if window:
        table.add_row("window", f"{window['kind']} {_when(window['start_ms'])} → "
                      f"{_when(window['end_ms'])}")
        table.add_row("progress", f"{window['pages']} pages: {window['fetched']} fetched, "
                      f"{window['upserted']} upserted, {window['rejected']} rejected")
    last = result.get("last_window")
    if last:
        table.add_row("last window", f"{last['kind']}: {last['pages']} pages, "
                      f"{last['upserted']} upserted, {last['rejected']} rejected")
    table.add_row("watermark", _when(result.get("watermark_ms")))
    table.add_row("pending backfills", str(result.get("pending_backfills", 0)))
    table.add_row("this run", ", ".join(f"{k} {v}" for k, v in result["this_run"].items()))
    if result.get("last_signal_error"):
        table.add_row("last signal error", f"[yellow]{result['last_signal_error']}[/]")
    console.print(table)
