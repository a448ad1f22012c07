"""The worker's /metrics: Tributary's counters, histograms and gauges next to the SDK's own."""

from __future__ import annotations

from typing import Any

from infra.times import utcnow
from sandbox.hubspot_properties import portal
from starter import connections
from tests.support.polling import until
from tests.support.processes import WorkerProcess

Sample = tuple[str, dict[str, str], float]


def total(samples: list[Sample], name: str, **labels: str) -> float:
    return sum(value for n, got, value in samples
               if n == name and all(got.get(k) == v for k, v in labels.items()))


async def test_worker_serves_tributary_and_sdk_metrics(
    observed_worker: WorkerProcess, process_stack: Any
) -> None:
    stack = process_stack({"list_page_size": 50}, contacts=300, invalid_contacts=4, seed=61)
    stack.sandbox.inject("rate_limit", count=1, retry_after=0.25)
    summary = await stack.sync()
    assert summary["upserted"] > 0 and summary["rejected"] == 4

    conn = {"connection": stack.connection, "stream": "contacts", "provider": "hubspot"}
    samples = await observed_worker.scrape()
    assert total(samples, "tributary_records_upserted_total", **conn) == summary["upserted"]
    assert total(samples, "tributary_records_fetched_total", **conn) == summary["fetched"]
    assert total(samples, "tributary_records_rejected_total", **conn) == 4
    assert total(samples, "tributary_pages_fetched_total", **conn) == summary["pages"]
    assert summary["token_refreshes"] == 1
    assert total(samples, "tributary_token_refreshes_total", **conn) == 1
    assert total(samples, "tributary_rate_limited_total", **conn) == 1
    assert total(samples, "tributary_errors_total", category="rate_limited", **conn) == 1
    assert total(samples, "tributary_rate_limit_wait_seconds_count", **conn) == 1
    assert total(samples, "tributary_rate_limit_wait_seconds_sum", **conn) == 0.25
    latency = "tributary_provider_request_latency_seconds_count"
    assert total(samples, latency, operation="fetch_page", outcome="ok", **conn) \
        == summary["pages"]
    assert total(samples, latency, operation="fetch_page", outcome="rate_limited", **conn) == 1
    assert total(samples, latency, operation="refresh_token", outcome="ok", **conn) == 1
    # The portal's property list, asked once before the window's first page (its retry after
    # the 429 found the list cached).
    assert total(samples, latency, operation="properties", outcome="ok", **conn) == 1
    # Labels name the connection, never the tenant.
    tributary = [s for s in samples if s[0].startswith("tributary_")]
    assert not [s for s in tributary if "acme" in s[1].values() or "tenant" in s[1]]

    # The SDK's own metrics on the same endpoint.
    assert total(samples, "temporal_workflow_completed_total", workflow_type="StreamSync") == 1
    # Pages are upserted in batches: at least one, at most one per page.
    upserts = total(samples, "temporal_activity_execution_latency_count",
                    activity_type="upsert_page")
    assert 1 <= upserts <= summary["pages"]
    assert total(samples, "temporal_activity_execution_failed_total",
                 activity_type="fetch_page") == 1

    # Gauges from the worker's periodic staleness check.
    async def lag() -> list[Sample]:
        found = await observed_worker.scrape()
        return [s for s in found if s[0] == "tributary_watermark_lag_seconds"
                and s[1].get("connection") == stack.connection]

    gauge = (await until(lag, what="watermark lag gauge"))[0]
    expected = (utcnow() - stack.state().watermark).total_seconds()
    assert abs(gauge[2] - expected) < 30, (gauge, expected)
    stale = [s for s in await observed_worker.scrape() if s[0] == "tributary_stream_stale"
             and s[1].get("connection") == stack.connection]
    assert stale and stale[0][2] == 0

    # A property created upstream is one schema change, counted once by its kind (the list is
    # now asked for at every window, one slice each).
    connections.update(stack.connection, {"properties_every_s": 0, "parallel_fetches": 1}, None)
    portal(stack.sandbox).create("contacts", "favorite_color")
    await stack.sync()
    await stack.sync()
    samples = await observed_worker.scrape()
    assert total(samples, "tributary_schema_changes_total", change="created", **conn) == 1
    assert total(samples, latency, operation="properties", outcome="ok", **conn) == 3
