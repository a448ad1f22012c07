"""describe_stream: check a sync's target exists and read what the workflow needs to plan it."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection
from temporalio import activity

from activities.models import RateKey, StreamInfo, StreamRef
from connectors import hubspot_api
from connectors.base import ListsArchived
from infra.configured import connector_for, invalid_input
from infra.times import to_ms_or_none, utcnow
from infra.transactions import Transactions
from store import associations, deletes, sync_state


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
        watermark_ms=to_ms_or_none(sync_state.watermark(conn, ref.connection, ref.stream)),
        pages_per_run=settings.pages_per_run,
        requests_per_second=settings.requests_per_second,
        parallel_fetches=settings.parallel_fetches,
        sliceable_kinds=connector.sliceable_kinds(ref.stream),
        start_ms=to_ms_or_none(settings.start_date),
        rate_keys={kind: RateKey(*key) for kind, key in connector.rate_keys().items()},
        **_deletes(conn, connector, ref),
        **_associations(conn, row.provider, settings, ref),
    )


def _deletes(conn: Connection, connector: object, ref: StreamRef) -> dict[str, Any]:
    every_s = (connector.deletes_every_s(ref.stream) if isinstance(connector, ListsArchived)
               else None)
    if every_s is None:
        return {}
    return {"deletes_every_ms": every_s * 1000, "deletes_last_run_ms":
            to_ms_or_none(deletes.last_run(conn, ref.connection, ref.stream))}


def _associations(conn: Connection, provider: str, settings: Any, ref: StreamRef
                  ) -> dict[str, Any]:
    """HubSpot streams read their records' associations; other providers have none."""
    kinds = hubspot_api.ASSOCIATED.get(ref.stream, ())
    if provider != hubspot_api.PROVIDER or not settings.associations or not kinds:
        return {}
    state = associations.reconcile_state(conn, ref.connection, ref.stream)
    return {"associations": kinds,
            "reconcile_associations": associations.reconcile_due(
                state, settings.associations_reconcile_every_s, utcnow())}


@activity.defn
async def describe_stream(ref: StreamRef) -> StreamInfo:
    return await describe(Transactions.configured(), ref)


async def describe(db: Transactions, ref: StreamRef) -> StreamInfo:
    """describe_stream on the given database."""
    return await db.read(_describe, ref)
