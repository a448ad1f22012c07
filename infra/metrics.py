"""Tributary's Prometheus metrics, recorded through the Temporal SDK runtime's meter.

One endpoint serves them next to the SDK's own metrics (worker.py configures the runtime). Labels
are connection, stream and provider (plus the SDK's namespace, task_queue and activity_type on
activity metrics), never tenant data. Without a metrics endpoint the meter is a no-op.
docs/METRICS.md lists every name.
"""

from __future__ import annotations

from temporalio import activity
from temporalio.common import MetricMeter

from connectors.errors import ProviderError

RECORDS_FETCHED = "tributary_records_fetched"
RECORDS_UPSERTED = "tributary_records_upserted"
RECORDS_REJECTED = "tributary_records_rejected"
PAGES_FETCHED = "tributary_pages_fetched"
PROVIDER_REQUEST_LATENCY = "tributary_provider_request_latency_seconds"
ERRORS = "tributary_errors"
RATE_LIMITED = "tributary_rate_limited"
RATE_LIMIT_WAIT = "tributary_rate_limit_wait_seconds"
TOKEN_REFRESHES = "tributary_token_refreshes"
WATERMARK_LAG = "tributary_watermark_lag_seconds"
SECONDS_SINCE_SUCCESS = "tributary_seconds_since_last_success"
STREAM_STALE = "tributary_stream_stale"
SCHEMA_CHANGES = "tributary_schema_changes"

_COUNTERS = {
    RECORDS_FETCHED: "Records fetched from the provider",
    RECORDS_UPSERTED: "Records written to the destination",
    RECORDS_REJECTED: "Records that failed validation and went to rejected records",
    PAGES_FETCHED: "Pages fetched from the provider",
    ERRORS: "Failed activity attempts, by error category",
    RATE_LIMITED: "Provider answers that said rate limited (HTTP 429 or equivalent)",
    TOKEN_REFRESHES: "Access tokens obtained with the refresh token",
    SCHEMA_CHANGES: "Provider properties created or archived upstream, by change",
}
_HISTOGRAMS = {
    PROVIDER_REQUEST_LATENCY: "Duration of one provider call, by operation and outcome",
    RATE_LIMIT_WAIT: "Wait the provider asked for after a rate-limited answer",
}
_GAUGES = {
    WATERMARK_LAG: "Now minus the stream's watermark (newest source change synced)",
    SECONDS_SINCE_SUCCESS: "Now minus the stream's last successful window",
    STREAM_STALE: "1 while the stream is beyond its connection's SLA (red), else 0",
}

# Buckets in seconds: provider calls take tens of milliseconds to tens of seconds; rate-limit
# waits go from a second to a day's quota reset.
BUCKETS: dict[str, list[float]] = {
    PROVIDER_REQUEST_LATENCY: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    RATE_LIMIT_WAIT: [0.1, 0.5, 1, 2, 5, 10, 30, 60, 300, 3600, 86400],
}

Labels = dict[str, str]


def labels(connection: str, stream: str, provider: str, **more: str) -> Labels:
    return {"connection": connection, "stream": stream, "provider": provider, **more}


def _meter() -> MetricMeter:
    return activity.metric_meter()


def count(name: str, value: int, at: Labels) -> None:
    """Add to a counter from inside an activity (zero adds nothing, but exports the series)."""
    _meter().create_counter(name, _COUNTERS[name]).add(value, at)


def observe(name: str, seconds: float, at: Labels) -> None:
    _meter().create_histogram_float(name, _HISTOGRAMS[name], "s").record(seconds, at)


def set_gauge(meter: MetricMeter, name: str, value: float, at: Labels) -> None:
    """Gauges are set by the worker's staleness check, outside any activity."""
    unit = "" if name == STREAM_STALE else "s"
    meter.create_gauge_float(name, _GAUGES[name], unit).set(value, at)


def provider_call(at: Labels, operation: str, seconds: float,
                  error: ProviderError | None = None) -> None:
    """One provider call: its latency by outcome, and for a rate-limited answer the wait asked."""
    outcome = error.category if error is not None else "ok"
    observe(PROVIDER_REQUEST_LATENCY, seconds, at | {"operation": operation, "outcome": outcome})
    if error is not None and error.category == "rate_limited":
        count(RATE_LIMITED, 1, at)
        if error.retry_after is not None:
            observe(RATE_LIMIT_WAIT, error.retry_after, at)
