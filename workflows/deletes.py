"""Deletes passes: when a stream walks its provider's archived records (pure, unit-tested)."""

from __future__ import annotations

from activities.models import StreamInfo


def due(info: StreamInfo, now_ms: int) -> bool:
    """A pass is due once `deletes_every` has passed since the last one started (never run:
    now). The last run comes from the database (describe), so syncs run by a schedule, one
    workflow per cycle, are reconciled on time as well as long-lived ones."""
    if info.deletes_every_ms is None:
        return False  # the connector lists no archived records: no pass
    last = info.deletes_last_run_ms
    return last is None or now_ms >= last + info.deletes_every_ms
