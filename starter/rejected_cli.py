"""`python -m starter rejected list|retry`: inspect rejected records and re-drive them.

A retry runs each stored raw payload through the connection's current mapping (after you fixed
it with `connection update --config`), upserts what now passes and keeps the rest with their
new errors. The provider is not called: the payload is the record as it was fetched.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from sqlalchemy import Connection, delete, select, update

from connectors.mapping import apply
from connectors.registry import UnknownProvider, build
from infra.times import utcnow
from starter.errors import USAGE, CliError, handle_errors
from store import connections
from store.db import engine
from store.schema import rejected_records
from store.upsert import upsert_rows

app = typer.Typer(help="Rejected records: list them, re-drive them after a mapping fix.",
                  no_args_is_help=True)
console = Console()
StreamOption = Annotated[str | None, typer.Option("--stream", help="Only this stream.")]


@dataclass
class RedriveResult:
    accepted: int = 0
    still_rejected: int = 0


def _filters(connection: str | None, stream: str | None) -> list[Any]:
    found = []
    if connection:
        found.append(rejected_records.c.connection == connection)
    if stream:
        found.append(rejected_records.c.stream == stream)
    return found


def redrive(conn: Connection, connection: str, stream: str | None = None) -> RedriveResult:
    """Re-apply the current mapping to the connection's rejected records, in one transaction."""
    row = connections.get(conn, connection)
    try:
        _, mappings = build(row.provider, row.config)
    except (UnknownProvider, ValidationError) as exc:
        raise CliError(f"connection {connection!r} is misconfigured: {exc}", USAGE) from None
    if stream is not None and stream not in mappings:
        raise CliError(f"connection {connection!r} has no stream {stream!r}; valid: "
                       f"{', '.join(mappings)}", USAGE)
    result = RedriveResult()
    now = utcnow()
    rejected = conn.execute(select(rejected_records).where(*_filters(connection, stream)))
    accepted: dict[str, list[dict[str, Any]]] = {}
    fixed: list[int] = []
    for item in rejected:
        mapping = mappings.get(item.stream)
        if mapping is None:  # the stream is gone from the configuration: leave it be
            result.still_rejected += 1
            continue
        try:
            canonical, errors = apply(mapping, json.loads(item.payload))
        except Exception as exc:  # a malformed payload stays rejected, with the reason
            canonical, errors = None, [f"{type(exc).__name__}: {exc}"]
        if canonical is None:
            result.still_rejected += 1
            conn.execute(update(rejected_records).where(rejected_records.c.id == item.id)
                         .values(error="; ".join(errors)))
            continue
        canonical.update(connection=connection, stream=item.stream, synced_at=now)
        accepted.setdefault(item.stream, []).append(canonical)
        fixed.append(item.id)
    for name, rows in accepted.items():
        # The upsert never regresses a row a later sync already brought further.
        upsert_rows(conn, mappings[name].table, rows)
        result.accepted += len(rows)
    if fixed:
        conn.execute(delete(rejected_records).where(rejected_records.c.id.in_(fixed)))
    return result


@app.command("list")
@handle_errors
def list_(
    connection: Annotated[str | None, typer.Option("--connection", help="Only this one.")] = None,
    stream: StreamOption = None,
    limit: Annotated[int, typer.Option(min=1, help="At most this many rows.")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per record.")] = False,
) -> None:
    """Rejected records and why (newest first; payloads stay in the database)."""
    with engine().connect() as conn:
        if connection:
            connections.get(conn, connection)
        rows = list(conn.execute(
            select(rejected_records.c.connection, rejected_records.c.stream,
                   rejected_records.c.external_id, rejected_records.c.error,
                   rejected_records.c.rejected_at)
            .where(*_filters(connection, stream))
            .order_by(rejected_records.c.rejected_at.desc(), rejected_records.c.id)
            .limit(limit)))
    if as_json:
        typer.echo(json.dumps([{**r._mapping, "rejected_at": r.rejected_at.isoformat()}
                               for r in rows], indent=2))
        return
    table = Table("connection", "stream", "external id", "error", "rejected at")
    for r in rows:
        # The id and the error quote the provider's record: text, not markup.
        table.add_row(r.connection, r.stream, escape(r.external_id), escape(r.error),
                      r.rejected_at.isoformat(sep=" ", timespec="seconds"))
    console.print(table if rows else "no rejected records")


@app.command("retry")
@handle_errors
def retry(connection: str, stream: StreamOption = None) -> None:
    """Re-drive a connection's rejected records through its current mapping (no provider call)."""
    with engine().begin() as conn:
        result = redrive(conn, connection, stream)
    console.print(f"{result.accepted} accepted and upserted, {result.still_rejected} "
                  "still rejected" + (" (see `rejected list`)" if result.still_rejected else ""))
