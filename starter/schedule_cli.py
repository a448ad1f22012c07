"""`python -m starter schedule ...`: Temporal Schedules for streams that run on a timetable."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from starter import schedules
from starter.errors import handle_errors

app = typer.Typer(
    help="Run a stream on a Temporal Schedule instead of `every` (a stream is one or the other).",
    no_args_is_help=True,
)
console = Console()

Connection = Annotated[str, typer.Argument(help="Connection name.")]
Stream = Annotated[str, typer.Argument(help="Stream, e.g. contacts.")]


@app.command("create")
@handle_errors
def create(
    connection: Connection,
    stream: Stream,
    every: Annotated[str | None, typer.Option(
        help="Interval: 30s, 15m, 1h, 1d (30s to 366d).")] = None,
    cron: Annotated[str | None, typer.Option(help='Cron expression, e.g. "*/15 * * * *".')] = None,
) -> None:
    """Create the stream's schedule: one one-cycle sync per scheduled time, never overlapping."""
    sid = asyncio.run(schedules.create(connection, stream, every, cron))
    console.print(f"created schedule [bold]{sid}[/]: overlap SKIP, its runs are named "
                  f"{sid}-<scheduled time>")


@app.command("pause")
@handle_errors
def pause(connection: Connection, stream: Stream) -> None:
    """Stop starting runs (a run in progress finishes)."""
    asyncio.run(schedules.pause(connection, stream))
    console.print(f"paused schedule [bold]{schedules.schedule_id(connection, stream)}[/]")


@app.command("unpause")
@handle_errors
def unpause(connection: Connection, stream: Stream) -> None:
    """Start runs again at the scheduled times."""
    asyncio.run(schedules.unpause(connection, stream))
    console.print(f"unpaused schedule [bold]{schedules.schedule_id(connection, stream)}[/]")


@app.command("trigger")
@handle_errors
def trigger(connection: Connection, stream: Stream) -> None:
    """Run once now; after the running one, if a run is in progress (overlap BUFFER_ONE)."""
    asyncio.run(schedules.trigger(connection, stream))
    console.print(f"triggered schedule [bold]{schedules.schedule_id(connection, stream)}[/]")


@app.command("delete")
@handle_errors
def delete(connection: Connection, stream: Stream) -> None:
    """Delete the schedule (a run in progress finishes)."""
    asyncio.run(schedules.delete(connection, stream))
    console.print(f"deleted schedule [bold]{schedules.schedule_id(connection, stream)}[/]")


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value else "-"


@app.command("list")
@handle_errors
def list_() -> None:
    """Every stream's schedule: timetable, paused, next and last run."""
    found = asyncio.run(schedules.list_())
    if not found:
        console.print("no schedules (create one with `schedule create`)")
        return
    table = Table("schedule", "spec", "paused", "next run (UTC)", "last run (UTC)", "note")
    table.columns[0].no_wrap = True
    for item in found:
        table.add_row(item.id, item.spec, "yes" if item.paused else "no", _when(item.next_run),
                      _when(item.last_run), item.note)
    console.print(table)


@app.command("backfill")
@handle_errors
def backfill(
    connection: Connection,
    stream: Stream,
    since: Annotated[str, typer.Option(help="ISO date/time, e.g. 2025-01-01T00:00:00Z.")],
    until: Annotated[str, typer.Option(help="ISO date/time, e.g. 2025-02-01T00:00:00Z.")],
) -> None:
    """Re-sync a past range without moving the watermark; the schedule pauses meanwhile."""
    summary = asyncio.run(schedules.backfill(
        connection, stream, since, until, say=lambda text: console.print(text, highlight=False)))
    console.print(f"backfill done: {summary.get('pages', 0)} pages, "
                  f"{summary.get('upserted', 0)} upserted, {summary.get('rejected', 0)} rejected; "
                  "schedule unpaused")
