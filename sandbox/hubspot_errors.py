"""HubSpot-shaped error bodies; every one gets a fresh correlationId like the real API."""

from __future__ import annotations

import uuid
from typing import Any


def correlation_id() -> str:
    return str(uuid.uuid4())


def error_body(message: str, category: str, **extra: Any) -> dict[str, Any]:
    return {
        "status": "error",
        "message": message,
        "correlationId": correlation_id(),
        "category": category,
        **extra,
    }


def rate_limit_body(message: str, policy: str, **extra: Any) -> dict[str, Any]:
    return {
        "status": "error",
        "message": message,
        "errorType": "RATE_LIMIT",
        "correlationId": correlation_id(),
        "policyName": policy,
        **extra,
    }


def ten_secondly_body() -> dict[str, Any]:
    return rate_limit_body(
        "You have reached your ten_secondly_rolling limit.",
        "TEN_SECONDLY_ROLLING",
        groupName="publicapi:private_app-api-calls-ten-secondly:tributary-sandbox",
    )


def secondly_body() -> dict[str, Any]:
    return rate_limit_body("You have reached your secondly limit.", "SECONDLY")


def daily_body() -> dict[str, Any]:
    return rate_limit_body(
        "You have reached your daily limit.", "DAILY", requestId=correlation_id()
    )


class ApiError(Exception):
    """Raised by request handling; the app turns it into a JSON response with this status."""

    def __init__(
        self, status: int, message: str, category: str = "VALIDATION_ERROR", **extra: Any
    ) -> None:
        super().__init__(message)
        self.status = status
        self.body = error_body(message, category, **extra)
