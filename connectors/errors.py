"""The error envelope every connector raises, whatever the provider's own error format."""

from __future__ import annotations

import logging
import math
from dataclasses import asdict, dataclass
from datetime import timedelta
from typing import Literal

import httpx
from temporalio.exceptions import ApplicationError

Category = Literal[
    "auth_failure", "rate_limited", "validation_error", "server_error", "timeout", "conflict"
]

log = logging.getLogger("tributary.provider")

# The longest a provider can make a stream wait: a daily quota resets within a day. Anything
# longer is a provider bug (`Retry-After: 99999999` is three years) and would stall the stream.
MAX_WAIT_S = 86_400.0

# An auth failure needs a token refresh or a person; a validation error is a bug or bad
# configuration. Retrying either blindly only burns the provider's quota.
NON_RETRYABLE: frozenset[str] = frozenset({"auth_failure", "validation_error"})

# What the person reading a failed attempt in the history should do; each category has a section
# of docs/RUNBOOK.md with the details (the anchor is the category itself).
ACTIONS: dict[str, str] = {
    "auth_failure": "re-authorize the connection (`python -m starter connection update "
                    "<connection> --reauthorize`), then signal `resume`",
    "rate_limited": "nothing: the sync waits out the provider's window and resumes; if it "
                    "persists, sync less often or raise the provider quota",
    "validation_error": "fix the request or the connection's settings/mapping, then signal "
                        "`resume`",
    "server_error": "nothing: retried with backoff until the provider recovers; check the "
                    "provider's status page if it lasts",
    "timeout": "nothing: retried with backoff; if it lasts, raise the connection's `timeout_s`",
    "conflict": "nothing: retried with backoff until the provider releases the object",
    "invalid_input": "fix the workflow input or the connection (names, settings), then start "
                     "the sync again",
}


def runbook_ref(category: str) -> str:
    return f"docs/RUNBOOK.md#{category}"


def explained(message: str, category: str) -> str:
    """`message` followed by the action to take and the runbook section, once."""
    if runbook_ref(category) in message or category not in ACTIONS:
        return message
    return f"{message}. Action: {ACTIONS[category]}. See {runbook_ref(category)}"


def capped_wait_s(seconds: float, source: str) -> float | None:
    """A wait the provider asked for, in [0, MAX_WAIT_S]; longer ones are logged and capped, and
    a NaN is no wait at all (None: the caller's default applies)."""
    if math.isnan(seconds) or seconds > MAX_WAIT_S:
        log.warning("%s: the provider asked to wait %gs; waiting %s", source, seconds,
                    "its default" if math.isnan(seconds) else f"{MAX_WAIT_S:g}s (a day) at most")
        return None if math.isnan(seconds) else MAX_WAIT_S
    return max(seconds, 0.0)


@dataclass
class ProviderError(Exception):
    category: Category
    message: str
    provider: str
    operation: str
    status: int | None = None
    request_id: str | None = None
    retry_after: float | None = None
    credential_version: int | None = None
    page: int | None = None  # the window's page number, when the call fetched a page

    def __post_init__(self) -> None:
        # Every provider's wait passes here on its way to next_retry_delay and the stream's
        # blocked_until, whichever connector read it and from which header or body.
        if self.retry_after is not None:
            self.retry_after = capped_wait_s(self.retry_after,
                                             f"{self.provider} {self.operation}")

    def __str__(self) -> str:
        parts = [f"{self.category}: {self.provider} {self.operation}"]
        if self.page is not None:
            parts.append(f"page {self.page}")
        parts.append(f"HTTP {self.status}" if self.status is not None else "no HTTP status")
        text = " ".join(parts) + f": {self.message}"
        text += f" (request id {self.request_id or 'none'})"
        if self.retry_after is not None:
            text += f"; retry after {self.retry_after:g}s"
        return explained(text, self.category)

    def envelope(self) -> dict[str, object]:
        return asdict(self)

    def to_application_error(self) -> ApplicationError:
        delay = timedelta(seconds=self.retry_after) if self.retry_after is not None else None
        return ApplicationError(
            str(self),
            self.envelope(),
            type=self.category,
            non_retryable=self.category in NON_RETRYABLE,
            next_retry_delay=delay,
        )


def transport_error(
    exc: httpx.HTTPError, provider: str, operation: str, timeout_s: float
) -> ProviderError:
    """No HTTP answer at all: a timeout, or a connection that failed."""
    if isinstance(exc, httpx.TimeoutException):
        return timed_out(provider, operation, timeout_s)
    return ProviderError("server_error", f"connection failed: {type(exc).__name__}", provider,
                         operation)


def timed_out(provider: str, operation: str, timeout_s: float) -> ProviderError:
    """No whole answer in time: one read (httpx) or the exchange's deadline, whichever first."""
    return ProviderError("timeout", f"no response within {timeout_s:g}s (timeout_s, from "
                         "connecting to the last byte)", provider, operation)
