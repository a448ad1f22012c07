"""Window planning: which range a cycle or a backfill syncs, and its slices fetched at once."""

from __future__ import annotations

import itertools

from activities.models import StreamInfo
from workflows.inputs import Backfill, Slice, Window, WindowKind

# A window shorter than two of these is not worth splitting (an ordinary incremental cycle).
MIN_SLICE_MS = 3_600_000


def new_window(workflow_id: str, kind: WindowKind, start_ms: int | None, end_ms: int) -> Window:
    # The id names the range: a window re-run after a crash stages under the same id.
    return Window(window_id=f"{workflow_id}/{kind}/{start_ms or 0}-{end_ms}",
                  kind=kind, start_ms=start_ms, end_ms=end_ms)


def cycle_window(workflow_id: str, info: StreamInfo, watermark_ms: int | None,
                 full_refresh: bool, now_ms: int) -> Window:
    """[watermark - lookback, now), or everything since the connection's start without one."""
    if full_refresh or watermark_ms is None:
        return new_window(workflow_id, "full_refresh", info.start_ms, now_ms)
    return new_window(workflow_id, "incremental", max(watermark_ms - info.lookback_ms, 0), now_ms)


def backfill_window(workflow_id: str, request: Backfill, now_ms: int) -> Window:
    return new_window(workflow_id, "backfill", request.since_ms, request.until_ms or now_ms)


def plan_slices(window: Window, info: StreamInfo) -> list[Slice]:
    """Equal time slices when the connector can bound this window kind on the provider side."""
    start, end = window.start_ms, window.end_ms
    if (start is None or window.kind not in info.sliceable_kinds
            or end - start < 2 * MIN_SLICE_MS):
        return [Slice(start_ms=start, end_ms=end)]
    count = min(info.parallel_fetches, (end - start) // MIN_SLICE_MS)
    # Whole seconds: providers that filter by the second (SOQL) see no overlap.
    bounds = [start] + [(start + (end - start) * i // count) // 1000 * 1000
                        for i in range(1, count)] + [end]
    return [Slice(start_ms=a, end_ms=b) for a, b in itertools.pairwise(bounds)]
