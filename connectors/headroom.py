"""How long a stream should wait before its next request, from the provider's rate-limit headroom.

Every connector reports its provider's remaining budget through `slow_down_ms`, so a stream slows
down before the provider answers 429 (a 429 costs a whole window; a spread costs a little).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from connectors.errors import capped_wait_s

# Below this share of the budget the stream slows down; above it, full speed.
FLOOR_FRACTION = 0.01
# The share of a provider's limit to pace a connection at: a rolling window paced at exactly
# its limit always reads ~0 remaining (every request would wait). 3 % under keeps the budget
# above the floor in steady state, with one request to spare for a request that went out a
# little late beside one on time; so only a burst makes the stream wait.
PACE_SHARE = 0.97
# The Temporal server lets a key that was idle burst for one second of its rate; the extra
# requests leave a rolling window one window later, so that is how long a stream near an empty
# budget waits, at most.
SERVER_BURST_MS = 1_000
DAY_MS = 86_400_000
# Integers a float holds exactly (2**53 has 16 digits), so arithmetic on them never overflows.
MAX_DIGITS = 15


def slow_down_ms(
    remaining: int | None, maximum: int | None, interval_ms: float | None, *, rolling: bool = True,
) -> int:
    """The wait before the next request: 0 while `remaining` is above the floor.

    Rolling windows (HubSpot's ten seconds, Salesforce's 24 hours) free one request every
    `interval / maximum` on average: below the floor the stream waits one such slot per request
    it is below it, plus one, and at least its share of the server's one-second burst, which
    is what leaves the window to make room. A stream paced under the limit by the Temporal
    server never waits; one running ahead of it (a burst, a second workflow) backs off before
    the 429.
    Windows that reset at a known time (`rolling=False`, `interval_ms` = the time until then)
    spread what is left over that time, so with nothing left the wait is the rest of it.
    Missing or nonsensical numbers (no header, a zero maximum) mean no opinion: 0.
    """
    if remaining is None or not maximum or maximum <= 0 or not interval_ms or interval_ms <= 0:
        return 0
    remaining = max(remaining, 0)
    floor = maximum * FLOOR_FRACTION
    if remaining > floor:
        return 0
    if rolling:
        below = math.floor(floor) - remaining + 1
        slots = interval_ms / maximum * below
        wait = max(slots, SERVER_BURST_MS * below / (math.floor(floor) + 1))
    else:
        wait = interval_ms / (remaining + 1)
    # A reset years away (a provider bug) would hold the stream that long: a day at most.
    return math.ceil(min(wait, (capped_wait_s(wait / 1000, "rate-limit headroom") or 0) * 1000))


def header_int(headers: Mapping[str, str], name: str | None) -> int | None:
    """A non-negative integer header (absent or anything else: None, i.e. unknown). More than
    MAX_DIGITS digits is no count, time or reset a provider means: unknown too."""
    value = (headers.get(name) or "").strip() if name else ""
    if value.isascii() and value.isdigit() and len(value) <= MAX_DIGITS:
        return int(value)
    return None
