"""StreamSync's input and signals, validated so a typo fails fast with a message that says why."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from infra import times

# Names become workflow ids, search attributes and file names: keep them plain.
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"
_EVERY = re.compile(r"^(\d+)\s*(s|m|h|d)$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def every_seconds(value: str) -> int:
    match = _EVERY.match(value.strip())
    if not match or int(match.group(1)) == 0:
        raise ValueError(f"every must look like 30s, 15m, 1h or 1d, not {value!r}")
    return int(match.group(1)) * _UNIT_S[match.group(2)]


class Backfill(BaseModel):
    """`{"since": "2025-01-01", "until": "2025-02-01"}`: re-sync that range (until: now)."""

    model_config = ConfigDict(extra="forbid")

    since: datetime
    until: datetime | None = None

    @model_validator(mode="after")
    def _ordered(self) -> Backfill:
        if self.until is not None and times.to_ms(self.until) <= times.to_ms(self.since):
            raise ValueError("until must be after since")
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


class SyncState(BaseModel):
    """What one run hands to the next through continue-as-new, whole (people leave it out)."""

    model_config = ConfigDict(extra="forbid")

    paused: bool = False
    backfills: list[Backfill] = []  # waiting to run, in signal order
    window: Window | None = None  # the window in progress: the next run resumes it in place
    next_cycle_at_ms: int | None = None


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
        where = ".".join(str(p) for p in item["loc"]) or "input"
        parts.append(f"{where}: {item['msg']}")
    return "; ".join(parts)


EXAMPLE = '{"connection": "acme-hubspot", "stream": "contacts", "every": "15m"}'


def parse_input(raw: Any) -> SyncInput:
    """Validate StreamSync's input; raise ValueError with what is wrong and what is valid."""
    if isinstance(raw, str):
        raise ValueError(f"input must be a JSON object like {EXAMPLE}, not a string")
    if not isinstance(raw, dict):
        raise ValueError(f"input must be a JSON object like {EXAMPLE}")
    try:
        return SyncInput.model_validate(raw)
    except ValidationError as exc:
        raise ValueError(f"invalid input ({describe_errors(exc)}); expected {EXAMPLE}") from None


def parse_backfill(raw: Any) -> Backfill:
    if not isinstance(raw, dict):
        raise ValueError('backfill takes a JSON object like {"since": "2025-01-01T00:00:00Z"}')
    try:
        return Backfill.model_validate(raw)
    except ValidationError as exc:
        raise ValueError(f"invalid backfill ({describe_errors(exc)})") from None
