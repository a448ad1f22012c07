"""Structured logs: one JSON object per line, carrying the sync's context and never a secret.

Every line names the connection, stream, workflow and run ids, activity, attempt and page when
they are known: activity code gets them from the context the worker's interceptor binds
(infra.observe), workflow code from the Temporal logger's own `temporal_workflow` extra.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from temporalio import activity, workflow
from temporalio.exceptions import ApplicationError

# The fields a log line may carry besides time, level, logger and message, in output order.
FIELDS = ("connection", "stream", "provider", "workflow_id", "run_id", "activity", "attempt",
          "page", "category")
FORMATS = ("json", "text")

# One dict per running activity attempt. asyncio.to_thread copies the context, so database work
# run on a thread logs with the same fields; bind() mutates the shared dict in place.
_context: ContextVar[dict[str, Any] | None] = ContextVar("tributary_log_context", default=None)


def start_context(fields: dict[str, Any]) -> None:
    _context.set(dict(fields))


def bind(**fields: Any) -> None:
    """Add fields (e.g. provider, page) to every later log line of the current activity."""
    current = _context.get()
    if current is not None:
        current.update({k: v for k, v in fields.items() if v is not None})


def current() -> dict[str, Any]:
    return dict(_context.get() or {})


def _from_workflow_id(workflow_id: str) -> dict[str, str]:
    # StreamSync ids are `sync/<connection>/<stream>` (workflows.names.workflow_id); a stream
    # name never holds a slash, a connection name might.
    if not workflow_id.startswith("sync/") or workflow_id.count("/") < 2:
        return {}
    connection, _, stream = workflow_id[len("sync/"):].rpartition("/")
    return {"connection": connection, "stream": stream}


def fields_of(record: logging.LogRecord) -> dict[str, Any]:
    """The context fields of one record: explicit `extra=` first, then activity/workflow info."""
    found: dict[str, Any] = {}
    workflow_info = getattr(record, "temporal_workflow", None)
    if isinstance(workflow_info, dict) and "workflow_id" in workflow_info:
        found |= _from_workflow_id(workflow_info["workflow_id"])
        found |= {"workflow_id": workflow_info["workflow_id"],
                  "run_id": workflow_info.get("run_id")}
    found |= current()
    for name in FIELDS:
        value = getattr(record, name, None)
        if value is not None:
            found[name] = value
    return {name: found[name] for name in FIELDS if found.get(name) is not None}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            **fields_of(record),
        }
        alert = getattr(record, "alert", None)
        if isinstance(alert, dict):
            line.update(alert)
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        extra = fields_of(record) | (getattr(record, "alert", None) or {})
        if extra:
            text += " [" + " ".join(f"{k}={v}" for k, v in extra.items()) + "]"
        return text


class _KnownFailures(logging.Filter):
    """Drop the SDK's traceback for an ApplicationError: the interceptor logged it already."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        return not (record.name == "temporalio.activity" and isinstance(error, ApplicationError))


def configure(fmt: str | None = None, level: str | None = None) -> str:
    """Root logging for a worker: `TRIBUTARY_LOG_FORMAT` (json|text), `TRIBUTARY_LOG_LEVEL`.

    Returns the format, for Temporal Core's own console logs.
    """
    fmt = (fmt or os.environ.get("TRIBUTARY_LOG_FORMAT") or "json").lower()
    level = (level or os.environ.get("TRIBUTARY_LOG_LEVEL") or "INFO").upper()
    if fmt not in FORMATS:
        raise ValueError(f"TRIBUTARY_LOG_FORMAT must be one of {', '.join(FORMATS)}, not {fmt!r}")
    if not isinstance(logging.getLevelName(level), int):
        raise ValueError(f"TRIBUTARY_LOG_LEVEL must be DEBUG, INFO, WARNING or ERROR, "
                         f"not {level!r}")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    handler.addFilter(_KnownFailures())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # httpx logs every request URL at INFO: one line per page, and a query-string API key in it.
    logging.getLogger("httpx").setLevel(max(root.level, logging.WARNING))
    # The context is in the fields now; Temporal's default appends it to the message as a dict.
    workflow.logger.workflow_info_on_message = False
    activity.logger.activity_info_on_message = False
    return fmt
