"""commit_watermark: close a window once every page is upserted, exactly once."""

from __future__ import annotations

from sqlalchemy import Connection
from temporalio import activity

from activities.models import CommitRequest, CommitResult
from infra.times import from_ms, to_ms_or_none
from infra.transactions import Transactions
from store import staging, sync_state


def _commit(conn: Connection, request: CommitRequest) -> CommitResult:
    run = sync_state.run(conn, request.window_id)
    current = sync_state.watermark(conn, request.connection, request.stream)
    if run is not None and run.finished_at is not None:  # a retried commit: already done
        return CommitResult(to_ms_or_none(current), run.pages, run.records_upserted,
                            run.records_rejected)
    totals = staging.window_totals(conn, request.window_id)
    new_watermark = None
    if request.advance_watermark and totals.max_updated_at is not None:
        # Never past the window's end (records changed during a full refresh may come later)
        # and never backwards.
        candidate = min(totals.max_updated_at, from_ms(request.window_end_ms))
        if current is None or candidate > current:
            new_watermark = candidate
    if run is not None:
        sync_state.finish_run(
            conn, window_id=request.window_id, connection=request.connection,
            stream=request.stream, pages=totals.pages, upserted=totals.upserted,
            rejected=totals.rejected, new_watermark=new_watermark,
        )
    staging.drop_window(conn, request.window_id)
    return CommitResult(to_ms_or_none(new_watermark or current), totals.pages, totals.upserted,
                        totals.rejected)


@activity.defn
async def commit_watermark(request: CommitRequest) -> CommitResult:
    return await commit(Transactions.configured(), request)


async def commit(db: Transactions, request: CommitRequest) -> CommitResult:
    """commit_watermark on the given database."""
    return await db.write(_commit, request)
