"""What a connector is: a provider's pages and token refresh, whatever speaks HTTP to it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Protocol, runtime_checkable

import httpx
from pydantic import BaseModel, ConfigDict, Field

from connectors.errors import ProviderError
from connectors.urls import Url

KIB, MIB, GIB = 1 << 10, 1 << 20, 1 << 30
DAY_S = 86400
# One request must end well inside the fetch activity's start-to-close timeout (90 s,
# workflows.steps), or the attempt is killed instead of reporting the timeout.
MAX_TIMEOUT_S = 60.0


class SyncSettings(BaseModel):
    """What every connection can set, whatever its provider."""

    # No inf or nan, which JSON, TOML and YAML files can spell (and PostgreSQL's JSON cannot).
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    # Every duration is bounded: a lookback or an SLA of 10^15 s would overflow the clock.
    lookback_s: int = Field(300, ge=0, le=366 * DAY_S)
    refresh_margin_s: int = Field(300, ge=0, le=DAY_S)
    # Per provider request, from connecting to the last byte of the answer (connectors.http).
    timeout_s: float = Field(30.0, gt=0, le=MAX_TIMEOUT_S)
    # Pages one workflow run handles before it continues as new (keeps each history small).
    pages_per_run: int = Field(300, ge=1, le=2000)
    # Staleness SLA in seconds (default: twice the sync interval, one hour without one).
    sla_s: float | None = Field(None, gt=0, le=366 * DAY_S)
    # Enforced by the Temporal server per connection (infra.rate_limits); None: no limit.
    requests_per_second: float | None = Field(None, gt=0, le=10_000)
    # Where a full refresh starts (the provider holds nothing older worth syncing). With it, a
    # connector that bounds windows in time can split a full refresh into parallel slices too.
    start_date: datetime | None = None
    # Time slices of a window fetched at once; the rate limit still paces them together.
    parallel_fetches: int = Field(4, ge=1, le=32)


class HttpSettings(SyncSettings):
    """A provider reached over HTTP: credentials go to this origin only."""

    base_url: Url
    # The most one response may hold, decoded: a larger one is refused as it streams in, never
    # buffered whole (a 100 MB page read whole costs the worker ~750 MiB, docs/BENCHMARKS.md).
    max_response_bytes: int = Field(64 * MIB, ge=64 * KIB, le=GIB)


SyncKind = Literal["full_refresh", "incremental", "backfill"]


@dataclass(frozen=True)
class PageRequest:
    stream: str
    kind: SyncKind
    window_start_ms: int | None
    window_end_ms: int
    cursor: dict[str, Any] | None


@dataclass
class Page:
    records: list[dict[str, Any]]
    next_cursor: dict[str, Any] | None
    # Provider rate-limit headroom, when the response said so.
    rate_remaining: int | None = None
    # How long the stream waits before its next request (connectors.headroom).
    slow_down_ms: int = 0
    # The provider's daily allowance, {"used": n, "limit": m}, when it reports one (Salesforce).
    api_usage: dict[str, int] | None = None


@dataclass
class ArchivedPage:
    """A page of the records a provider archived: (external id, archived at in epoch ms)."""

    archived: list[tuple[str, int]]
    next_cursor: dict[str, Any] | None
    slow_down_ms: int = 0


@dataclass(frozen=True)
class TokenGrant:
    access_token: str
    refresh_token: str
    expires_in_s: int


class UnusableGrant(Exception):
    """The token endpoint rotated the refresh token, but the rest of its answer is unusable.

    The refresh token sent no longer works, so the new one must be stored all the same; `error`
    is what the rest of the answer amounts to. The token itself never reaches the message.
    """

    def __init__(self, error: ProviderError, refresh_token: str) -> None:
        super().__init__(str(error))
        self.error = error
        self.refresh_token = refresh_token


class Connector(Protocol):
    @property
    def provider(self) -> str: ...

    @property
    def streams(self) -> tuple[str, ...]: ...

    @property
    def settings(self) -> SyncSettings: ...

    async def fetch_page(
        self, client: httpx.AsyncClient, access_token: str, request: PageRequest
    ) -> Page: ...

    async def refresh(
        self, client: httpx.AsyncClient, client_secret: str, refresh_token: str
    ) -> TokenGrant:
        """A new access token; raises ProviderError, or UnusableGrant when the refresh token
        was rotated by an answer that is otherwise unusable."""
        ...

    def sliceable_kinds(self, stream: str) -> tuple[SyncKind, ...]:
        """Window kinds this stream can fetch as independent time ranges on the provider side."""
        ...

    def rate_keys(self) -> dict[SyncKind, tuple[str, float]]:
        """Window kinds whose requests count against a budget of their own: (name, rate)."""
        ...


@runtime_checkable
class ListsArchived(Protocol):
    """A connector that can list the records its provider archived (deletes passes)."""

    def deletes_every_s(self, stream: str) -> int | None:
        """How often the stream's deletes pass runs; None: never."""
        ...

    async def fetch_archived(
        self, client: httpx.AsyncClient, access_token: str, stream: str,
        cursor: dict[str, Any] | None,
    ) -> ArchivedPage: ...
