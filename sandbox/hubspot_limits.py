"""Rate-limit windows and injectable faults."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

FAULT_KINDS = frozenset(
    {
        "server_error",
        "rate_limit",
        "daily_limit",
        "slow",
        "error_200",
        "malformed_json",
        "truncated",
    }
)
FAULT_TARGETS = frozenset({"api", "token"})
SERVER_ERROR_ROTATION = (500, 502, 503, 504)


class RollingWindow:
    """At most `limit` admissions in any `interval_s`; rejected requests do not consume capacity."""

    def __init__(self, limit: int, interval_s: float) -> None:
        self.limit = limit
        self.interval_s = interval_s
        self.hits: deque[float] = deque()

    def _prune(self, now: float) -> None:
        while self.hits and self.hits[0] <= now - self.interval_s:
            self.hits.popleft()

    def admit(self, now: float) -> bool:
        self._prune(now)
        if len(self.hits) >= self.limit:
            return False
        self.hits.append(now)
        return True

    def remaining(self, now: float) -> int:
        self._prune(now)
        return max(self.limit - len(self.hits), 0)


@dataclass(frozen=True, slots=True)
class Fault:
    kind: str
    status: int | None = None
    retry_after: float | None = None
    delay_s: float = 0.0


@dataclass(slots=True)
class PendingFault:
    fault: Fault
    remaining: int
