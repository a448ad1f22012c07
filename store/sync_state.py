"""Per-stream state: watermark, last success, counters, errors by category, sync runs."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, bindparam, select, update

from infra.times import utcnow
from store.columns import fitted
from store.schema import stream_state, sync_runs


def _ensure(conn: Connection, connection: str, stream: str) -> Any:
    query = select(stream_state).where(
        stream_state.c.connection == connection, stream_state.c.stream == stream
    )
    row = conn.execute(query.with_for_update()).one_or_none()
    if row is None:
        conn.execute(stream_state.insert().values(
            connection=connection, stream=stream, records_synced=0, retries=0,
            errors_by_category={},
        ))
        row = conn.execute(query).one()
    return row


def _where(connection: str, stream: str) -> Any:
    return (stream_state.c.connection == connection) & (stream_state.c.stream == stream)


def watermark(conn: Connection, connection: str, stream: str) -> datetime | None:
    return conn.execute(
        select(stream_state.c.watermark).where(_where(connection, stream))
    ).scalar()


def record_error(
    conn: Connection, connection: str, stream: str, category: str, message: str, retry: bool,
    retry_after_s: float | None = None,
) -> None:
    row = _ensure(conn, connection, stream)
    counts = dict(row.errors_by_category or {})
    counts[category] = counts.get(category, 0) + 1
    now = utcnow()
    conn.execute(update(stream_state).where(_where(connection, stream)).values(
        # A provider's message may carry a NUL character, which PostgreSQL text cannot hold.
        errors_by_category=counts, last_error=fitted(stream_state.c.last_error, message[:1000]),
        last_error_at=now,
        retries=stream_state.c.retries + (1 if retry else 0),
        blocked_until=now + timedelta(seconds=retry_after_s) if retry_after_s else None,
    ))


def record_usage(conn: Connection, connection: str, stream: str, usage: dict[str, Any]) -> None:
    _ensure(conn, connection, stream)
    conn.execute(update(stream_state).where(_where(connection, stream)).values(
        provider_usage=usage))


# Once per fetched page: built once (see store.staging).
_CLEAR_BLOCK = update(stream_state).where(
    stream_state.c.connection == bindparam("b_connection"),
    stream_state.c.stream == bindparam("b_stream"),
    stream_state.c.blocked_until.is_not(None),
).values(blocked_until=None)


def clear_block(conn: Connection, connection: str, stream: str) -> None:
    """The provider answered again: the stream is no longer held back."""
    conn.execute(_CLEAR_BLOCK, {"b_connection": connection, "b_stream": stream})


def open_run(
    conn: Connection, *, window_id: str, connection: str, stream: str, kind: str,
    window_start: datetime | None, window_end: datetime,
) -> None:
    exists = conn.execute(
        select(sync_runs.c.window_id).where(sync_runs.c.window_id == window_id)
    ).scalar()
    if exists is None:
        conn.execute(sync_runs.insert().values(
            window_id=window_id, connection=connection, stream=stream, kind=kind,
            window_start=window_start, window_end=window_end, started_at=utcnow(),
        ))


def run(conn: Connection, window_id: str) -> Any:
    return conn.execute(select(sync_runs).where(sync_runs.c.window_id == window_id)).one_or_none()


def finish_run(
    conn: Connection, *, window_id: str, connection: str, stream: str, pages: int,
    upserted: int, rejected: int, new_watermark: datetime | None,
) -> None:
    """Close a window: counters and watermark move together, exactly once per window."""
    _ensure(conn, connection, stream)
    now = utcnow()
    conn.execute(update(sync_runs).where(sync_runs.c.window_id == window_id).values(
        finished_at=now, pages=pages, records_upserted=upserted, records_rejected=rejected,
    ))
    values: dict[str, Any] = {
        "last_success_at": now,
        "records_synced": stream_state.c.records_synced + upserted,
        "last_error": None,
    }
    if new_watermark is not None:
        values["watermark"] = new_watermark
    conn.execute(update(stream_state).where(_where(connection, stream)).values(**values))

