"""Activity inputs and results: small, typed, and free of record bodies and secrets.

No `from __future__ import annotations` here: the SDK resolves these hints on every payload it
converts, and string annotations are re-evaluated each time.
"""

from dataclasses import dataclass, field
from typing import Any


@dataclass
class StreamRef:
    connection: str
    stream: str


@dataclass
class RateKey:
    """A request budget of its own on the provider's side (HubSpot's search: 5/s per account)."""

    name: str
    requests_per_second: float


@dataclass
class StreamInfo:
    connection: str
    stream: str
    provider: str
    tenant: str
    lookback_ms: int
    refresh_margin_ms: int
    watermark_ms: int | None
    # Pages one workflow run handles before it continues as new (keeps each history small).
    pages_per_run: int = 300
    requests_per_second: float | None = None
    # Time slices of one window fetched at once, for the window kinds the connector can bound
    # on the provider side (connectors can't split an opaque list cursor).
    parallel_fetches: int = 1
    sliceable_kinds: tuple[str, ...] = ()
    # The connection's start_date: where a full refresh window starts (None: the beginning).
    start_ms: int | None = None
    # Window kinds whose requests count against a budget of their own (by window kind).
    rate_keys: dict[str, RateKey] = field(default_factory=dict)


@dataclass
class TokenRequest:
    connection: str
    stream: str
    # Refresh even a fresh-looking token if it is still this version (the provider said 401).
    stale_version: int | None = None


@dataclass
class TokenStatus:
    version: int
    expires_at_ms: int | None
    refreshed: bool


@dataclass
class FetchRequest:
    connection: str
    stream: str
    window_id: str
    kind: str  # full_refresh | incremental | backfill
    window_start_ms: int | None
    window_end_ms: int
    page_no: int
    cursor: dict[str, Any] | None
    # Wait this long before the provider call (the previous page said headroom is low, or the
    # stream spaces its requests)...
    delay_ms: int = 0
    # ...or less, until this instant (epoch ms): time the task spent queued by the server's
    # rate limit already counts towards the spacing.
    not_before_ms: int | None = None


@dataclass
class PageRef:
    page_id: int
    page_no: int
    fetched: int
    next_cursor: dict[str, Any] | None
    # The provider's headroom is nearly spent: wait this long before this stream's next request.
    slow_down_ms: int = 0


@dataclass
class PageTask:
    """A batch of staged pages of one window, transformed or upserted in one transaction."""

    connection: str
    stream: str
    window_id: str
    page_ids: list[int]


@dataclass
class TransformResult:
    valid: int
    rejected: int


@dataclass
class UpsertResult:
    upserted: int
    max_updated_ms: int | None


@dataclass
class CommitRequest:
    connection: str
    stream: str
    window_id: str
    window_end_ms: int
    advance_watermark: bool


@dataclass
class CommitResult:
    watermark_ms: int | None
    pages: int
    upserted: int
    rejected: int
