"""The error envelope every connector raises, whatever the provider's own error format."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import timedelta
from typing import Literal

from temporalio.exceptions import ApplicationError

Category = Literal[
    "auth_failure", "rate_limited", "validation_error", "server_error", "timeout", "conflict"
]

# An auth failure needs a token refresh or a person; a validation error is a bug or bad
# configuration. Retrying either blindly only burns the provider's quota.
NON_RETRYABLE: frozenset[str] = frozenset({"auth_failure", "validation_error"})


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

    def __str__(self) -> str:
        parts = [f"{self.category}: {self.provider} {self.operation}"]
        if self.status is not None:
            parts.append(f"HTTP {self.status}")
        text = " ".join(parts) + f": {self.message}"
        if self.request_id:
            text += f" (request id {self.request_id})"
        if self.retry_after is not None:
            text += f"; retry after {self.retry_after:g}s"
        return text

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
