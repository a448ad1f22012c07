"""A stream beyond its SLA turns red: one alert line when it does, one when it recovers."""

from __future__ import annotations

from typing import Any

from starter import connections
from store import vault
from tests.support.polling import until
from tests.support.processes import WorkerProcess
from tests.support.stacks import wait_for_status


def alerts(worker: WorkerProcess, connection: str) -> list[dict[str, Any]]:
    return [line for line in worker.log_lines()
            if line["logger"] == "tributary.staleness" and line.get("connection") == connection]


async def since_success(worker: WorkerProcess, connection: str) -> float | None:
    for name, labels, value in await worker.scrape():
        if name == "tributary_seconds_since_last_success" and labels["connection"] == connection:
            return value
    return None


async def test_one_alert_per_transition_into_and_out_of_red(
    observed_worker: WorkerProcess, process_stack: Any
) -> None:
    # An SLA of 4 s (the connection's `sla_s`, shorter than twice the shortest `every`, 30 s).
    stack = process_stack({"list_page_size": 20, "sla_s": 4}, contacts=30, seed=81)
    handle = await stack.start(every="30s")
    await until(lambda: stack.state() is not None and stack.state().last_success_at is not None,
                what="first successful cycle")

    stack.sandbox.revoke_refresh_token()
    stack.sandbox.expire_access_tokens()
    await handle.signal("sync_now")  # the next cycle now, which needs re-authorization
    await wait_for_status(handle, lambda s: s["state"] == "needs_reauthorization", timeout=30)
    stale = (await until(lambda: alerts(observed_worker, stack.connection), timeout=30,
                         what="stale alert"))[0]
    assert stale["level"] == "WARNING" and stale["event"] == "stale" and stale["health"] == "red"
    assert stale["stream"] == "contacts" and stale["provider"] == "hubspot"
    assert stale["sla_s"] == 4.0 and stale["seconds_since_success"] >= 4.0
    # Many more checks (every 0.2 s) while it stays red: still one line.
    base = await since_success(observed_worker, stack.connection)
    assert base is not None

    async def later_checks() -> bool:
        return (await since_success(observed_worker, stack.connection) or 0) > base + 2

    await until(later_checks, what="ten more staleness checks")
    assert len(alerts(observed_worker, stack.connection)) == 1

    connections.update(stack.connection, {},
                       vault.Secrets(stack.sandbox.client_secret,
                                     stack.sandbox.reset_refresh_token()))
    await handle.signal("resume")
    await until(lambda: len(alerts(observed_worker, stack.connection)) >= 2, timeout=30,
                what="recovery alert")
    recovered = alerts(observed_worker, stack.connection)
    assert [a["event"] for a in recovered] == ["stale", "recovered"]
    assert recovered[1]["health"] == "green" and recovered[1]["level"] == "INFO"
