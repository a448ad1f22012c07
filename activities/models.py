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
    # Deletes passes (activities.deletes): how often, None where the connector lists no
    # archived records; and when the last one started (None: never).
    deletes_every_ms: int | None = None
    deletes_last_run_ms: int | None = None
    # Object types whose associations each window's records have read (HubSpot), and whether
    # the periodic re-read of every record's associations is due (activities.associations).
    # Absent from histories recorded before: no association steps, as those runs had none.
    associations: tuple[str, ...] = ()
    reconcile_associations: bool = False


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
    # How long the token lives from its refresh; None when unknown (results recorded before it
    # was added, a token some other code stored): the whole margin applies, as it used to.
    lifetime_ms: int | None = None

    def refresh_at_ms(self, margin_ms: int) -> int | None:
        """When to refresh: `margin_ms` before expiry, but at most half the token's lifetime
        before it, or a token shorter than the margin would be refreshed before every page.
        The one rule, for the workflow and the refresh activity alike; None: refresh now."""
        if self.expires_at_ms is None:
            return None
        if self.lifetime_ms is not None:
            margin_ms = min(margin_ms, self.lifetime_ms // 2)
        return self.expires_at_ms - margin_ms


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
    # More than one: a connection without a request rate walks on to the following pages of its
    # cursor, numbered page_no, page_no + 1, ..., staging each as it comes (see fetch_page).
    max_pages: int = 1


@dataclass
class PageRef:
    """The pages one fetch staged: one, or a run of them (FetchRequest.max_pages)."""

    page_id: int  # the first page's
    page_no: int  # the first page's
    fetched: int  # records, every page of the run together
    next_cursor: dict[str, Any] | None
    # The provider's headroom is nearly spent: wait this long before this stream's next request.
    slow_down_ms: int = 0
    # A run of more than one page: every page's id, in page order, page_id first.
    run_ids: list[int] = field(default_factory=list)

    def page_ids(self) -> list[int]:
        return self.run_ids or [self.page_id]


@dataclass
class PageTask:
    """A batch of staged pages of one window, transformed or upserted in one transaction."""

    connection: str
    stream: str
    window_id: str
    page_ids: list[int]


# Results once carried more fields; the SDK ignores a payload's unknown fields, so saved
# histories still decode.
@dataclass
class TransformResult:
    rejected: int


@dataclass
class UpsertResult:
    upserted: int


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


@dataclass
class DeletesRequest:
    """The next pages of a deletes pass: the archived records after `cursor`."""

    connection: str
    stream: str
    started_ms: int  # when the pass started: what the destination is reconciled as of
    cursor: dict[str, Any] | None
    archived_before: int = 0  # rows the pass archived on its earlier pages
    max_pages: int = 1
    not_before_ms: int | None = None  # the stream's request spacing, as FetchRequest's


@dataclass
class DeletesResult:
    next_cursor: dict[str, Any] | None  # None: the pass is complete and recorded
    pages: int
    seen: int  # archived records listed
    archived: int  # rows archived now
    slow_down_ms: int = 0


@dataclass
class AssociationTask:
    """The associations to `to_type` of the records a batch of a window's pages loaded: one
    activity reads the next 100 after `after` (external id order), one batch read (plus the
    paging of a record with many): as fetch_page, one request per attempt as a rule."""

    connection: str
    stream: str
    window_id: str
    page_ids: list[int]
    to_type: str
    after: str | None = None


@dataclass
class AssociationResult:
    after: str | None  # None: every record of the task is done
    requests: int
    found: int
    archived: int
