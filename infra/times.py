"""The one place instants change form: epoch milliseconds, ISO 8601 text and SQL timestamps.

Every DateTime column holds naive UTC, on every dialect; everything else speaks epoch ms.
Text without a zone is UTC.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, tzinfo

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def utcnow() -> datetime:
    """Now as the database stores it: naive UTC."""
    return datetime.now(UTC).replace(tzinfo=None)


def now_ms() -> int:
    return to_ms(datetime.now(UTC))


def aware(value: datetime) -> datetime:
    """An aware datetime; a naive one (a SQL timestamp) is UTC."""
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def to_ms(value: datetime) -> int:
    """Epoch ms of an aware datetime, or of a naive one taken as UTC."""
    return round(aware(value).timestamp() * 1000)


def to_ms_or_none(value: datetime | None) -> int | None:
    return None if value is None else to_ms(value)


def from_ms(ms: int) -> datetime:
    """The SQL timestamp (naive UTC) of epoch ms."""
    return from_ms_aware(ms).replace(tzinfo=None)


def from_ms_aware(ms: int) -> datetime:
    # Integer arithmetic: a float of seconds can land a microsecond short of the millisecond.
    return _EPOCH + timedelta(milliseconds=ms)


def from_ms_or_none(ms: int | None) -> datetime | None:
    return None if ms is None else from_ms(ms)


def to_utc(value: datetime, zone: tzinfo = UTC) -> datetime:
    """Naive UTC of any datetime; a naive one is in `zone`."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=zone)
    return value.astimezone(UTC).replace(tzinfo=None)


def parse_iso(text: str) -> datetime:
    """An aware datetime from ISO 8601 text ('Z', '+00:00' and '+0000' alike; no zone: UTC).

    Raises ValueError for anything else."""
    return aware(datetime.fromisoformat(text.strip().replace("Z", "+00:00")))


def parse_local(text: str, fmt: str | None = None, zone: tzinfo = UTC) -> datetime:
    """Naive UTC of ISO 8601 text, or of text in strptime's `fmt`; text without a zone is in
    `zone` (a mapping's source zone). Raises ValueError for anything else."""
    return to_utc(datetime.strptime(text, fmt) if fmt else datetime.fromisoformat(text), zone)


def parse_ms(value: str | int) -> int:
    """Epoch ms of ISO 8601 text or of epoch-ms digits (providers send both)."""
    if isinstance(value, int):
        return value
    text = value.strip()
    if text.lstrip("-").isdigit():
        return int(text)
    return to_ms(parse_iso(text))


def iso(ms: int, timespec: str = "milliseconds") -> str:
    """UTC ISO 8601 with a trailing Z: 2026-01-02T03:04:05.678Z (timespec as datetime's)."""
    return from_ms_aware(ms).isoformat(timespec=timespec).replace("+00:00", "Z")
