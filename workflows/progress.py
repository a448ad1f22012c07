"""Progress: what a run has done so far, as the `status` query and the Web UI's current details
show it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from activities.models import CommitResult, PageRef
from infra import times
from workflows.inputs import SyncInput, SyncState, Window


def _zero_totals() -> dict[str, int]:
    return {"pages": 0, "fetched": 0, "upserted": 0, "rejected": 0, "token_refreshes": 0}


@dataclass
class Progress:
    """One run's progress (the carried state is SyncState; these start over with each run)."""

    phase: str = "starting"  # the status's "state"
    blocked: str | None = None  # why the stream waits for `resume`
    blocked_since_ms: int | None = None
    watermark_ms: int | None = None
    last_window: dict[str, Any] | None = None
    last_signal_error: str | None = None
    last_deletes: dict[str, Any] | None = None  # this run's completed deletes pass
    totals: dict[str, int] = field(default_factory=_zero_totals)

    def fetched(self, window: Window, ref: PageRef) -> None:
        pages = len(ref.page_ids())
        window.fetched += ref.fetched
        window.pages += pages
        self.totals["fetched"] += ref.fetched
        self.totals["pages"] += pages

    def transformed(self, window: Window, rejected: int) -> None:
        window.rejected += rejected
        self.totals["rejected"] += rejected

    def upserted(self, window: Window, upserted: int) -> None:
        window.upserted += upserted
        self.totals["upserted"] += upserted

    def committed(self, window: Window, result: CommitResult) -> None:
        if window.kind != "backfill":  # a backfill never moves the watermark
            self.watermark_ms = result.watermark_ms
        self.last_window = {"kind": window.kind, "start_ms": window.start_ms,
                            "end_ms": window.end_ms, "pages": result.pages,
                            "upserted": result.upserted, "rejected": result.rejected}


def status(inp: SyncInput | None, state: SyncState, progress: Progress) -> dict[str, Any]:
    """The `status` query's answer (the starter CLI, the demo and the tests read these keys)."""
    window = state.window
    return {
        "connection": inp.connection if inp else None,
        "stream": inp.stream if inp else None,
        "every": inp.every if inp else None,
        "state": progress.phase,
        "paused": state.paused,
        "blocked": progress.blocked,
        "blocked_since_ms": progress.blocked_since_ms if progress.blocked else None,
        "window": None if window is None else {
            "kind": window.kind, "start_ms": window.start_ms, "end_ms": window.end_ms,
            "pages": window.pages, "fetched": window.fetched, "upserted": window.upserted,
            "rejected": window.rejected,
        },
        "last_window": progress.last_window,
        "deletes": None if state.deletes is None else state.deletes.model_dump(),
        "last_deletes": progress.last_deletes,
        "pending_backfills": len(state.backfills),
        "watermark_ms": progress.watermark_ms,
        "this_run": dict(progress.totals),
        "last_signal_error": progress.last_signal_error,
    }


def details(state: SyncState, progress: Progress, extra: str | None = None) -> str:
    """The workflow's current details in the Web UI: where the sync is and what it waits for."""
    lines = [f"**{progress.phase}**"]
    if progress.blocked:
        since = times.from_ms_aware(progress.blocked_since_ms or 0)
        lines.append(f"{progress.blocked} (stuck since {since.isoformat(timespec='seconds')})")
    if state.paused:
        lines.append("paused: signal `resume` to continue")
    if state.window is not None:
        w = state.window
        lines.append(f"{w.kind} window, {w.pages} pages: {w.fetched} fetched, "
                     f"{w.upserted} upserted, {w.rejected} rejected")
    if extra:
        lines.append(extra)
    return "\n\n".join(lines)


def blocked_reason(category: str, message: str) -> tuple[str, str]:
    """(phase, reason) of a stream parked by a failed step, with what the operator does next."""
    if category == "auth_failure":
        return "needs_reauthorization", (
            f"needs re-authorization: {message}. Update the credentials "
            "(`python -m starter connection update <connection> --reauthorize`) then signal "
            "`resume`.")
    # Activity messages already lead with their category.
    reason = message if message.startswith(category) else f"{category}: {message}"
    return "blocked", f"{reason}. Fix the cause, then signal `resume`."
