"""The per-worker request limiter: the fallback when the Temporal server can't limit the rate.

Normally the server holds each connection to its `requests_per_second` across every worker
(infra.rate_limits). When it refuses that configuration, or `TRIBUTARY_LOCAL_RATE_LIMIT=1`
says so, each worker process paces each connection's provider calls itself, at
`requests_per_second / TRIBUTARY_WORKERS`: a process knows nothing of the others, so the
operator divides the rate among them (docs/RUNBOOK.md, "Rate limits").

GCRA, one theoretical arrival time per connection: a caller reserves the next free slot at
once (no await between reading and writing it, so concurrent callers on one event loop never
share a slot) and then sleeps until it, so the loop, and the activity's heartbeats, go on.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable

log = logging.getLogger("tributary.limiter")

FORCE_ENV = "TRIBUTARY_LOCAL_RATE_LIMIT"
WORKERS_ENV = "TRIBUTARY_WORKERS"
# A slot further away than this is not waited for inside one attempt: the attempt fails as
# rate_limited with the wait as its retry delay (well within the provider activities'
# start-to-close timeout, so a queue of waiting attempts never times out and piles up).
MAX_WAIT_S = 30.0


class Saturated(Exception):
    """The connection's next free slot is more than `MAX_WAIT_S` away."""

    def __init__(self, key: str, wait_s: float) -> None:
        super().__init__(f"connection {key!r}: the next request slot of this worker is "
                         f"{wait_s:.1f}s away")
        self.wait_s = wait_s


class KeyedLimiter:
    """At most `rate` acquisitions per second for each key, spaced evenly; keys are independent."""

    def __init__(self, clock: Callable[[], float] | None = None) -> None:
        self._clock = clock
        self._next_free: dict[str, float] = {}

    def _now(self) -> float:
        return self._clock() if self._clock else asyncio.get_running_loop().time()

    def reserve(self, key: str, rate: float, max_wait_s: float = MAX_WAIT_S) -> float:
        """Take the key's next slot; the seconds until it. Raises Saturated (taking nothing)."""
        if rate <= 0:
            raise ValueError(f"rate must be positive, not {rate}")
        now = self._now()
        slot = max(self._next_free.get(key, now), now)
        wait = slot - now
        if wait > max_wait_s:
            raise Saturated(key, wait)
        self._next_free[key] = slot + 1 / rate
        return wait

    async def acquire(self, key: str, rate: float, max_wait_s: float = MAX_WAIT_S) -> float:
        """Wait (without blocking the loop) for the key's next slot; the seconds waited."""
        wait = self.reserve(key, rate, max_wait_s)
        if wait > 0:
            await asyncio.sleep(wait)
        return wait


_limiter = KeyedLimiter()
_fallback = False


def workers() -> int:
    """How many worker processes share each connection's rate (TRIBUTARY_WORKERS, default 1)."""
    raw = os.environ.get(WORKERS_ENV, "").strip() or "1"
    try:
        count = int(raw)
    except ValueError:
        count = 0
    if count < 1:
        raise ValueError(f"{WORKERS_ENV} must be a whole number of worker processes (1 or more), "
                         f"not {raw!r}")
    return count


def forced() -> bool:
    return os.environ.get(FORCE_ENV, "").strip().lower() in ("1", "true", "yes", "on")


def configure(server_enforces: bool) -> bool:
    """Select this process's mode from whether the server took the rate limits; True: local."""
    global _fallback
    _fallback = not server_enforces
    if active():
        log.warning("per-worker rate limiter on (%s): each connection's requests_per_second is "
                    "divided by %s=%d in this process", "forced by " + FORCE_ENV if forced()
                    else "the server does not enforce rate limits", WORKERS_ENV, workers())
    return active()


def active() -> bool:
    return _fallback or forced()


async def pace(connection: str, requests_per_second: float | None) -> float:
    """Before a provider call: wait for the connection's slot in local mode; the seconds waited."""
    if requests_per_second is None or not active():
        return 0.0
    return await _limiter.acquire(connection, requests_per_second / workers())


async def pace_each(connection: str, requests_per_second: float | None) -> float:
    """Before each call of an activity that makes several (association batch reads): the
    server paces activities, not the calls inside one, so these are spaced here in either
    mode, at the connection's rate per worker process; the seconds waited."""
    if requests_per_second is None:
        return 0.0
    return await _limiter.acquire(connection, requests_per_second / workers())
