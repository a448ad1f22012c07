"""StreamSync's input and signals, validated so a typo fails fast with a message that says why."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from infra import times

# Names become workflow ids, search attributes and file names: keep them plain.
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"
# Digits bounded: a million-digit `every` is refused by the pattern, not by int().
_EVERY = re.compile(r"^(\d{1,12})\s*(s|m|h|d)$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400}
# Below 30 s a cycle is mostly its fixed cost (describe, token, commit, continue-as-new) and
# webhooks are the way to near real time; above a leap year the sleep outgrows any timer a
# person means (and 99999999999d overflows one).
EVERY_MIN_S = 30
EVERY_MAX_S = 366 * 86400


def cut(text: str, limit: int = 60) -> str:
    """Operator input quoted in an error (status, history, logs) stays a sane length."""
    return text if len(text) <= limit else text[:limit] + "…"


def shown(value: Any) -> str:
    return cut(repr(value))


def every_seconds(value: str) -> int:
    """The one parser of `every` (workflow input, CLI, schedules): seconds, 30 s to 366 days."""
    match = _EVERY.match(value.strip())
    if not match:
        raise ValueError(f"every must look like 30s, 15m, 1h or 1d, not {shown(value)}")
    seconds = int(match.group(1)) * _UNIT_S[match.group(2)]
    if not EVERY_MIN_S <= seconds <= EVERY_MAX_S:
        raise ValueError(f"every must be between 30s and 366d, not {shown(value)}")
    return seconds


def every_seconds_or_none(value: Any) -> int | None:
    """`every` as a running sync reports it (status, staleness): an older run's value outside
    today's bounds, or junk, is no interval rather than an error for every reader."""
    try:
        return every_seconds(value) if isinstance(value, str) else None
    except ValueError:
        return None


BACKFILL_EXAMPLE_SINCE = "2025-01-01T00:00:00Z"
BACKFILL_EXAMPLE = f'{{"since": "{BACKFILL_EXAMPLE_SINCE}", "until": "2025-02-01"}}'


class Backfill(BaseModel):
    """`{"since": "2025-01-01", "until": "2025-02-01"}`: re-sync that range (until: now).

    ISO 8601 dates or date-times only; text without a zone is UTC, as everywhere
    (infra.times.parse_iso). A number is refused: read as epoch seconds, 5 meant 1970.
    """

    model_config = ConfigDict(extra="forbid")

    since: datetime
    until: datetime | None = None

    @field_validator("since", "until", mode="before")
    @classmethod
    def _iso(cls, value: Any) -> Any:
        if value is None or isinstance(value, datetime):  # None: until absent; datetime: Python
            return value
        if isinstance(value, str):
            with contextlib.suppress(ValueError):
                return times.parse_iso(value)
        raise ValueError(f"must be an ISO date or date-time like {BACKFILL_EXAMPLE_SINCE} "
                         f"(no zone: UTC), not {shown(value)}")

    @model_validator(mode="after")
    def _ordered(self, info: ValidationInfo) -> Backfill:
        if self.since_ms < 0:
            raise ValueError("since must be 1970-01-01 or later")
        if self.until_ms is not None and self.until_ms <= self.since_ms:
            raise ValueError("until must be after since")
        # Where a backfill comes in (parse_input, parse_backfill) now is given: the workflow's
        # workflow.now(), the CLI's clock. A window that starts in the future syncs nothing.
        now_ms = (info.context or {}).get("now_ms")
        if now_ms is not None and self.since_ms > now_ms:
            raise ValueError(f"since is in the future (now is {times.iso(now_ms, 'seconds')})")
        return self

    @property
    def since_ms(self) -> int:
        return times.to_ms(self.since)

    @property
    def until_ms(self) -> int | None:
        return None if self.until is None else times.to_ms(self.until)


class Slice(BaseModel):
    """A time range of a window walked by its own cursor, beside the window's other slices."""

    start_ms: int | None
    end_ms: int
    cursor: dict[str, Any] | None = None
    done: bool = False


WindowKind = Literal["full_refresh", "incremental", "backfill"]


class Window(BaseModel):
    """A window in progress; carried across continue-as-new so a long window resumes in place."""

    window_id: str
    kind: WindowKind
    start_ms: int | None
    end_ms: int
    # The next page number (pages of every slice share the window's numbering; a fetch of a
    # run of pages takes as many numbers as the run may have pages).
    page_no: int = 0
    pages: int = 0  # fetched so far
    slices: list[Slice] = []
    fetched: int = 0
    upserted: int = 0
    rejected: int = 0


class DeletesPass(BaseModel):
    """A deletes pass in progress (workflows.deletes); carried across continue-as-new."""

    model_config = ConfigDict(extra="forbid")

    # Bounded: it becomes a SQL timestamp (year 9999 at most) when the pass is recorded.
    started_ms: int = Field(ge=0, le=253_402_300_799_999)
    cursor: dict[str, Any] | None = None
    pages: int = Field(default=0, ge=0)
    seen: int = Field(default=0, ge=0)  # archived records listed
    archived: int = Field(default=0, ge=0)  # rows archived


class SyncState(BaseModel):
    """What one run hands to the next through continue-as-new, whole (people leave it out)."""

    model_config = ConfigDict(extra="forbid")

    paused: bool = False
    backfills: list[Backfill] = []  # waiting to run, in signal order
    window: Window | None = None  # the window in progress: the next run resumes it in place
    next_cycle_at_ms: int | None = None
    deletes: DeletesPass | None = None  # the deletes pass in progress


class SyncInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    connection: str = Field(min_length=1, max_length=200, pattern=NAME_PATTERN)
    stream: str = Field(min_length=1, max_length=100, pattern=NAME_PATTERN)
    every: str | None = None
    full_refresh: bool = False
    # false: run only the given backfills (a schedule's backfill of a past range), no cycle.
    cycle: bool = True
    # Windows to re-sync before the first cycle (the workflow queues them in its state).
    backfills: list[Backfill] = []
    state: SyncState = Field(default_factory=SyncState)

    @field_validator("every")
    @classmethod
    def _every(cls, value: str | None) -> str | None:
        if value is not None:
            every_seconds(value)
        return value


def describe_errors(error: ValidationError) -> str:
    parts = []
    for item in error.errors():
        where = cut(".".join(str(p) for p in item["loc"]))
        message = item["msg"].removeprefix("Value error, ")
        parts.append(f"{where}: {message}" if where else message)
    return cut("; ".join(parts), 500)


EXAMPLE = '{"connection": "acme-hubspot", "stream": "contacts", "every": "15m"}'


def one_input(what: str, args: Sequence[Any], example: str) -> Any:
    """The single argument of the run method or a signal, which Temporal passes as given: the
    CLI and the Web UI send none, one or several."""
    if len(args) != 1:
        raise ValueError(f"{what} takes one input, a JSON object like {example}; "
                         f"got {len(args)} inputs")
    return args[0]


def no_input(what: str, args: Sequence[Any]) -> None:
    if args:
        raise ValueError(f"{what} takes no input; got {len(args)}")


def parse_input(raw: Any, now_ms: int) -> SyncInput:
    """Validate StreamSync's input; raise ValueError with what is wrong and what is valid.

    now_ms: the instant no backfill may start after (workflow.now() in the workflow)."""
    if isinstance(raw, str):
        raise ValueError(f"input must be a JSON object like {EXAMPLE}, not a string")
    if not isinstance(raw, dict):
        raise ValueError(f"input must be a JSON object like {EXAMPLE}")
    try:
        return SyncInput.model_validate(raw, context={"now_ms": now_ms})
    except ValidationError as exc:
        raise ValueError(f"invalid input ({describe_errors(exc)}); expected {EXAMPLE}") from None


def parse_backfill(raw: Any, now_ms: int) -> Backfill:
    """Validate a backfill signal's window; since at most now_ms (see parse_input)."""
    if not isinstance(raw, dict):
        raise ValueError(f"backfill takes a JSON object like {BACKFILL_EXAMPLE}")
    try:
        return Backfill.model_validate(raw, context={"now_ms": now_ms})
    except ValidationError as exc:
        raise ValueError(f"invalid backfill ({describe_errors(exc)})") from None
