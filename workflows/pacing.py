"""Pacing: the fairness key and rate of a stream's requests, and when its next one may go."""

from __future__ import annotations

from dataclasses import dataclass

from activities.models import StreamInfo

# Headroom waits up to this long happen inside the next fetch (a durable timer fires only to
# about the second); longer ones are timers, holding no worker slot.
SHORT_WAIT_MS = 2_000


def rate_key(info: StreamInfo, kind: str | None) -> tuple[str, float | None]:
    """(fairness key, requests per second) of a window kind's requests: the connection's, or a
    key of their own for requests with a budget of their own (HubSpot's search)."""
    own = info.rate_keys.get(kind) if kind else None
    if own is not None:
        return f"{info.connection}/{own.name}", own.requests_per_second
    return info.connection, info.requests_per_second


@dataclass(frozen=True)
class Paced:
    delay_ms: int  # FetchRequest.delay_ms
    not_before_ms: int | None  # FetchRequest.not_before_ms
    paced_until: float | None  # the earliest instant of the key's request after this one


def pace(requests_per_second: float | None, headroom_ms: int, now_ms: int,
         paced_until: float | None) -> Paced:
    """The stream's next request: after any headroom wait, and one interval of the key's rate
    after the stream's previous request (`paced_until`, None: no previous request).

    The server enforces the rate, but a key that fell behind (a slow step, a headroom wait) may
    then catch up at once: the catch-up crowds the provider's rolling window, and one window
    later the stream must wait again. A stream that spaces its own requests never builds that
    credit. At most SHORT_WAIT_MS ahead: beyond, the server's pace holds.
    """
    if not requests_per_second:
        return Paced(headroom_ms, None, paced_until)
    at = max(now_ms + headroom_ms, min(paced_until or 0.0, now_ms + SHORT_WAIT_MS))
    return Paced(int(at - now_ms), int(at), at + 1000 / requests_per_second)


def wait_after_fetch(slow_down_ms: int) -> tuple[int, int]:
    """(timer, delay of the next fetch) in ms for a provider that asked to slow down."""
    if slow_down_ms > SHORT_WAIT_MS:
        return slow_down_ms, 0
    return 0, slow_down_ms  # timers fire to the second: the next fetch waits before its call
