"""Provider faults are retried or waited out; nothing is lost and every error is counted."""

from __future__ import annotations

import json
from typing import Any

from tests.support.stacks import wait_for_status

CLOCK_S = 0.002  # not_before_ms and delay_ms are whole milliseconds


async def test_token_expiry_mid_sync_refreshes_once_and_continues(make_stack: Any) -> None:
    stack = make_stack({"list_page_size": 10}, contacts=600, seed=11)
    handle = await stack.start()
    await wait_for_status(handle, lambda s: (s["window"] or {}).get("pages", 0) >= 3)
    stack.sandbox.expire_access_tokens()
    summary = await handle.result()
    # One refresh to get the first token, exactly one more after the 401.
    assert summary["token_refreshes"] == 2
    assert stack.sandbox.stats["token_refreshes_ok"] == 2
    assert stack.state().errors_by_category.get("auth_failure") == 1
    stack.assert_destination_equals_sandbox()


async def test_429_storm_is_waited_out(make_stack: Any) -> None:
    stack = make_stack({"list_page_size": 50}, contacts=500, seed=12, interval_ms=300)
    stack.sandbox.inject("rate_limit", count=4)  # no Retry-After: the documented window
    stack.sandbox.inject("rate_limit", count=2, retry_after=0.2)
    summary = await stack.sync()
    assert summary["upserted"] == 500
    assert stack.sandbox.stats["responses_429"] == 6
    assert stack.state().errors_by_category == {"rate_limited": 6}
    stack.assert_destination_equals_sandbox()


async def test_rolling_rate_limit_is_respected(make_stack: Any) -> None:
    stack = make_stack({"list_page_size": 20}, contacts=400, seed=13, rate_limit=3,
                       interval_ms=1000)
    handle = await stack.start()
    await handle.result()
    # The limit was really reached: the provider said 429, or the stream saw its headroom run
    # out and waited (inside the next fetch, or on a durable timer) before asking again.
    waits = 0
    silences = []  # (from, until) in epoch seconds: when a fetch was asked to wait
    for event in (await handle.fetch_history()).events:
        if event.HasField("timer_started_event_attributes"):
            waits += 1
        elif event.HasField("activity_task_scheduled_event_attributes"):
            attrs = event.activity_task_scheduled_event_attributes
            if attrs.activity_type.name == "fetch_page":
                request = json.loads(attrs.input.payloads[0].data)
                waits += request.get("delay_ms", 0) > 0
                if request.get("delay_ms", 0) > 0 and request.get("not_before_ms"):
                    until = request["not_before_ms"] / 1000
                    silences.append((until - request["delay_ms"] / 1000, until))
    assert stack.sandbox.stats["responses_429"] + waits >= 1
    # Each wait asked for was a real silence at the provider: no request reached it in between.
    sent = stack.provider_requests(stack.hubspot_paths.objects("contacts"))
    broken = [(round(start, 3), round(end, 3), round(at, 3)) for start, end in silences
              for at in sent if start + CLOCK_S < at < end - CLOCK_S]
    assert not broken, f"requests inside a wait (from, until, at): {broken}"
    stack.assert_destination_equals_sandbox()


async def test_server_errors_and_bad_bodies_are_retried(make_stack: Any) -> None:
    stack = make_stack({"list_page_size": 50}, contacts=300, seed=14)
    # Consecutive failures of one page back off 1 s, 2 s, 4 s...: keep the burst short.
    stack.sandbox.inject("server_error", count=2, status=503)
    stack.sandbox.inject("error_200", count=1)
    await stack.sync()
    assert stack.state().errors_by_category == {"server_error": 3}
    stack.assert_destination_equals_sandbox()


async def test_malformed_and_truncated_bodies_are_retried(make_stack: Any) -> None:
    stack = make_stack({"list_page_size": 50}, contacts=300, seed=16)
    stack.sandbox.inject("malformed_json", count=1)
    stack.sandbox.inject("truncated", count=1)
    await stack.sync()
    assert stack.state().errors_by_category == {"server_error": 2}
    stack.assert_destination_equals_sandbox()


async def test_revoked_refresh_token_waits_for_reauthorization(make_stack: Any) -> None:
    from starter import connections
    from store import vault

    stack = make_stack({"list_page_size": 10}, contacts=200, seed=15)
    stack.sandbox.revoke_refresh_token()
    handle = await stack.start()
    status = await wait_for_status(handle, lambda s: s["state"] == "needs_reauthorization")
    assert "re-authorization" in status["blocked"]
    new_token = stack.sandbox.reset_refresh_token()
    connections.update(stack.connection, {},
                       vault.Secrets(stack.sandbox.client_secret, new_token))
    await handle.signal("resume")
    await handle.result()
    stack.assert_destination_equals_sandbox()
