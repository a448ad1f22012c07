"""The worker interceptor every activity attempt runs through: log context, errors, runbook.

It binds the attempt's context (connection, stream, workflow and run ids, activity, attempt,
page) for structured logs, counts and logs each failed attempt by category, and makes sure the
error message a person reads in the workflow history says what to do (connectors.errors).
"""

from __future__ import annotations

import logging
from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError
from temporalio.worker import (
    ActivityInboundInterceptor,
    ExecuteActivityInput,
    Interceptor,
)

from connectors.errors import explained
from infra import logs, metrics

log = logging.getLogger("tributary.activity")


def _attempt_context(args: tuple[Any, ...]) -> dict[str, Any]:
    info = activity.info()
    fields: dict[str, Any] = {
        "workflow_id": info.workflow_id, "run_id": info.workflow_run_id,
        "activity": info.activity_type, "attempt": info.attempt,
    }
    # Every activity input names its connection and stream; fetch requests their page.
    request = args[0] if args else None
    for name, attr in (("connection", "connection"), ("stream", "stream"), ("page", "page_no")):
        value = getattr(request, attr, None)
        if value is not None:
            fields[name] = value
    return fields


def _explain(error: ApplicationError) -> ApplicationError:
    """The same error, its message followed by the action and runbook section for its type."""
    message = explained(error.message, error.type or "")
    if message == error.message:
        return error
    return ApplicationError(
        message, *error.details, type=error.type, non_retryable=error.non_retryable,
        next_retry_delay=error.next_retry_delay, category=error.category,
    )


class _Inbound(ActivityInboundInterceptor):
    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        logs.start_context(_attempt_context(tuple(input.args)))
        try:
            return await self.next.execute_activity(input)
        except ApplicationError as error:
            self._failed(error.type or "error", error.message)
            raise _explain(error) from None
        except Exception as error:
            self._failed(type(error).__name__, str(error))
            raise

    @staticmethod
    def _failed(category: str, message: str) -> None:
        context = logs.current()
        log.warning("attempt failed: %s", message, extra={"category": category})
        at = {"connection": str(context.get("connection", "")),
              "stream": str(context.get("stream", "")),
              "provider": str(context.get("provider", "")), "category": category}
        metrics.count(metrics.ERRORS, 1, at)


class ObservabilityInterceptor(Interceptor):
    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _Inbound(next)
