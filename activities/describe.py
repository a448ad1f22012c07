"""describe_stream: check a sync's target exists and read what the workflow needs to plan it."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Connection
from temporalio import activity

from activities.models import RateKey, StreamInfo, StreamRef
from activities.runtime import connector_for, invalid_input, read
from store import sync_state
from store.db import to_ms


def _describe(conn: Connection, ref: StreamRef) -> StreamInfo:
    connector, _, row = connector_for(conn, ref.connection)
    if ref.stream not in connector.streams:
        raise invalid_input(
            f"connection {ref.connection!r} ({row.provider}) has no stream {ref.stream!r}; "
            f"valid: {', '.join(connector.streams)}"
        )
    settings = connector.settings
    return StreamInfo(
        connection=ref.connection,
        stream=ref.stream,
        provider=row.provider,
        tenant=row.tenant,
        lookback_ms=settings.lookback_s * 1000,
        refresh_margin_ms=settings.refresh_margin_s * 1000,
        watermark_ms=to_ms(sync_state.watermark(conn, ref.connection, ref.stream)),
        pages_per_run=settings.pages_per_run,
        requests_per_second=settings.requests_per_second,
        parallel_fetches=settings.parallel_fetches,
        sliceable_kinds=connector.sliceable_kinds(ref.stream),
        start_ms=_utc_ms(settings.start_date),
        rate_keys={kind: RateKey(*key) for kind, key in connector.rate_keys().items()},
    )


def _utc_ms(value: datetime | None) -> int | None:
    if value is not None and value.tzinfo is not None:
        value = value.astimezone(UTC)
    return to_ms(value)


@activity.defn
async def describe_stream(ref: StreamRef) -> StreamInfo:
    return await read(_describe, ref)
