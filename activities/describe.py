"""describe_stream: check a sync's target exists and read what the workflow needs to plan it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection
from temporalio import activity

from activities.models import RateKey, StreamInfo, StreamRef
from activities.runtime import connector_for, invalid_input, read
from connectors.hubspot import HubSpotConnector
from connectors.rest import RestConnector
from connectors.salesforce import SalesforceConnector
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
        sliceable_kinds=_sliceable_kinds(connector, ref.stream),
        start_ms=_utc_ms(settings.start_date),
        rate_keys=_rate_keys(connector),
    )


def _utc_ms(value: datetime | None) -> int | None:
    if value is not None and value.tzinfo is not None:
        value = value.astimezone(UTC)
    return to_ms(value)


def _rate_keys(connector: Any) -> dict[str, RateKey]:
    if isinstance(connector, HubSpotConnector):  # incremental and backfill windows search
        search = RateKey("search", connector.settings.search_requests_per_second)
        return {"incremental": search, "backfill": search}
    return {}


def _sliceable_kinds(connector: Any, stream: str) -> tuple[str, ...]:
    """Window kinds this stream can fetch as independent time ranges on the provider side."""
    if isinstance(connector, HubSpotConnector):
        return ("incremental", "backfill")  # search filters by time; the list endpoint can't
    if isinstance(connector, SalesforceConnector):
        return ("full_refresh", "incremental", "backfill")  # SOQL bounds SystemModstamp
    if isinstance(connector, RestConnector):
        window = connector.settings.streams[stream].incremental
        if window is not None and window.end_param is not None:
            return ("full_refresh", "incremental", "backfill")
    return ()


@activity.defn
async def describe_stream(ref: StreamRef) -> StreamInfo:
    return await read(_describe, ref)
