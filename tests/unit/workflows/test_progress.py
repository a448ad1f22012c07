"""Progress: the status query's answer and the Web UI's current details."""

from __future__ import annotations

from datetime import UTC, datetime

from activities.models import CommitResult, PageRef
from workflows.inputs import Backfill, DeletesPass, SyncState, parse_input
from workflows.progress import Progress, blocked_reason, details, status
from workflows.windows import new_window


def test_counts_add_up_in_the_window_and_the_run() -> None:
    progress, window = Progress(), new_window("w", "incremental", 0, 10)
    progress.fetched(window, PageRef(1, 0, 30, None, run_ids=[1, 2, 3]))
    progress.fetched(window, PageRef(4, 3, 5, None))
    progress.transformed(window, rejected=2)
    progress.upserted(window, upserted=33)
    assert (window.pages, window.fetched, window.rejected, window.upserted) == (4, 35, 2, 33)
    assert progress.totals == {"pages": 4, "fetched": 35, "upserted": 33, "rejected": 2,
                               "token_refreshes": 0}


def test_a_commit_moves_the_watermark_unless_it_is_a_backfill() -> None:
    progress = Progress(watermark_ms=100)
    progress.committed(new_window("w", "backfill", 0, 10), CommitResult(999, 1, 2, 3))
    assert progress.watermark_ms == 100
    assert progress.last_window == {"kind": "backfill", "start_ms": 0, "end_ms": 10,
                                    "pages": 1, "upserted": 2, "rejected": 3}
    progress.committed(new_window("w", "incremental", 0, 10), CommitResult(500, 1, 2, 3))
    assert progress.watermark_ms == 500


def test_status_answers_every_key() -> None:
    inp = parse_input({"connection": "acme", "stream": "contacts", "every": "15m"},
                      now_ms=1_800_000_000_000)
    window = new_window("w", "incremental", 5, 10)
    window.pages, window.fetched = 2, 40
    state = SyncState(paused=True, window=window,
                      backfills=[Backfill(since=datetime(2025, 1, 1, tzinfo=UTC))],
                      deletes=DeletesPass(started_ms=4, cursor={"after": "9"}, pages=1,
                                          seen=100, archived=2))
    progress = Progress(phase="syncing", blocked=None, blocked_since_ms=7, watermark_ms=3)
    assert status(inp, state, progress) == {
        "connection": "acme", "stream": "contacts", "every": "15m", "state": "syncing",
        "paused": True, "blocked": None, "blocked_since_ms": None,
        "window": {"kind": "incremental", "start_ms": 5, "end_ms": 10, "pages": 2,
                   "fetched": 40, "upserted": 0, "rejected": 0},
        "last_window": None, "deletes": {"started_ms": 4, "cursor": {"after": "9"}, "pages": 1,
                                         "seen": 100, "archived": 2},
        "last_deletes": None, "pending_backfills": 1, "watermark_ms": 3,
        "this_run": {"pages": 0, "fetched": 0, "upserted": 0, "rejected": 0,
                     "token_refreshes": 0},
        "last_signal_error": None,
    }
    before_run = status(None, SyncState(), Progress())
    assert (before_run["connection"], before_run["state"], before_run["window"]) == (
        None, "starting", None)
    blocked = status(inp, SyncState(), Progress(blocked="why", blocked_since_ms=7))
    assert blocked["blocked_since_ms"] == 7


def test_details_say_where_the_sync_is_and_what_it_waits_for() -> None:
    window = new_window("w", "backfill", 0, 10)
    window.pages, window.fetched, window.upserted, window.rejected = 3, 60, 58, 2
    progress = Progress(phase="blocked", blocked="server_error: down. Fix the cause",
                        blocked_since_ms=1_735_689_600_000)
    text = details(SyncState(paused=True, window=window), progress, "next cycle in 5s")
    assert text == (
        "**blocked**\n\n"
        "server_error: down. Fix the cause (stuck since 2025-01-01T00:00:00+00:00)\n\n"
        "paused: signal `resume` to continue\n\n"
        "backfill window, 3 pages: 60 fetched, 58 upserted, 2 rejected\n\n"
        "next cycle in 5s")
    assert details(SyncState(), Progress(phase="sleeping")) == "**sleeping**"


def test_a_parked_stream_says_what_to_do() -> None:
    assert blocked_reason("auth_failure", "401 from hubspot") == (
        "needs_reauthorization",
        "needs re-authorization: 401 from hubspot. Update the credentials "
        "(`python -m starter connection update <connection> --reauthorize`) then signal "
        "`resume`.")
    assert blocked_reason("server_error", "server_error: 503") == (
        "blocked", "server_error: 503. Fix the cause, then signal `resume`.")
    assert blocked_reason("conflict", "409") == (
        "blocked", "conflict: 409. Fix the cause, then signal `resume`.")
