"""`python -m starter status`: the fleet table, once or refreshed live with --watch."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.markup import escape
from rich.table import Table

from infra.times import parse_iso
from starter.status import collect

HEALTH = {"green": "[green]● green[/]", "yellow": "[yellow]● yellow[/]", "red": "[red]● red[/]"}


def _short(iso: str | None) -> str:
    return iso[:19].replace("T", " ") if iso else "-"


def duration(seconds: float | None) -> str:
    """3d4h, 2h5m, 4m10s, 12s: two units are enough to judge a lag."""
    if seconds is None:
        return "-"
    seconds = max(int(seconds), 0)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d{hours}h"
    if hours:
        return f"{hours}h{minutes}m"
    return f"{minutes}m{secs}s" if minutes else f"{secs}s"


def _live(row: dict[str, Any], now: datetime) -> str:
    live = row.get("live")
    until = row.get("rate_limited_until")
    held = f"rate limited until {until}" if until else ""
    if not live:
        return held or "-"
    text = live.get("state") or "?"
    if held:
        text += f"\n[yellow]{held}[/]"
    if live.get("paused"):
        text += " (paused)"
    window = live.get("window")
    if window:
        text += f", {window['pages']} pages: {window['fetched']} fetched"
    if row.get("blocked"):
        since = row.get("blocked_since")
        stuck = (f" (stuck for {duration((now - parse_iso(since)).total_seconds())})"
                 if since else "")
        text += f"\n[red]{escape(row['blocked'])}{stuck}[/]"  # a provider's words, not markup
    return text


def table(rows: list[dict[str, Any]], now: datetime | None = None) -> Table:
    now = now or datetime.now(UTC)
    grid = Table("connection", "stream", "health", "last success", "lag", "24h", "total",
                 "rejected", "errors", "429 waits", "token refreshes", "live")
    for row in rows:
        errors = ", ".join(f"{k} {v}" for k, v in sorted(row["errors_by_category"].items()))
        grid.add_row(
            row["connection"], row["stream"], HEALTH[row["health"]],
            _short(row["last_success_at"]) if row["last_success_at"] else "never",
            duration(row["lag_seconds"]), str(row["records_synced_24h"]),
            str(row["records_synced"]), str(row["records_rejected"]), errors or "-",
            str(row["rate_limit_waits"]), str(row["token_refreshes"]), _live(row, now),
        )
    return grid


def render(rows: list[dict[str, Any]], warning: str | None) -> Any:
    if not rows:
        return "no connections (add one with `connection add`)"
    grid = table(rows)
    if warning:
        grid.caption = f"[yellow]{warning}[/]"
    return grid


async def watch(console: Console, interval: float) -> None:
    """Redraw in place every `interval` seconds until Ctrl-C."""
    with Live(console=console, auto_refresh=False, transient=False) as live:
        while True:
            rows, warning = await collect()
            stamp = datetime.now(UTC).strftime("%H:%M:%S")
            grid = render(rows, warning)
            if isinstance(grid, Table):
                grid.title = f"Tributary streams at {stamp} UTC (every {interval:g}s, Ctrl-C stops)"
            live.update(grid, refresh=True)
            await asyncio.sleep(interval)  # the refresh period itself, not a synchronisation
