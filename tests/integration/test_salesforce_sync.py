"""Salesforce syncs through the real Temporal dev server against the sandbox, on both databases."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from typing import Any

from connectors.registry import build
from infra.times import utcnow
from store import connections, vault
from store.db import engine
from tests.support.stacks import wait_for_status
from tests.support.tokens import refresh


async def test_full_then_incremental_sync_equals_the_org(sf_stack: Any) -> None:
    stack = sf_stack({"lookback_s": 0}, contacts=650, accounts=30, opportunities=30)
    summary = await stack.sync("contacts")
    assert summary["pages"] >= 4  # batchSize 200 was honoured: several nextRecordsUrl batches
    stack.assert_destination_equals_sandbox("contacts")
    first = stack.destination("contacts")
    assert all("attributes" not in str(row) for row in first.values())

    ids = sorted(first)
    stack.sandbox.modify("Contact", ids[:7])
    created = stack.sandbox.create("Contact", 5)
    stack.sandbox.delete("Contact", ids[10:13])
    summary = await stack.sync("contacts")
    assert summary["fetched"] < 100  # only the window since the watermark
    after = stack.destination("contacts")
    stack.assert_destination_equals_sandbox("contacts")
    assert set(created) <= set(after)
    # Deletes are soft: the rows stay, flagged.
    assert {i for i, row in after.items() if row["archived"]} == set(ids[10:13])
    # Sforce-Limit-Info, as the org last reported it, is the connection's daily API usage.
    from starter.status import collect

    rows, _ = await collect(target="127.0.0.1:1")
    usage = next(r for r in rows if r["connection"] == stack.connection
                 and r["stream"] == "contacts")["provider_usage"]
    assert usage is not None and 0 < usage["used"] <= usage["limit"]


async def test_companies_and_deals_streams(sf_stack: Any) -> None:
    stack = sf_stack(contacts=0, accounts=250, opportunities=220)
    await stack.sync("companies")
    await stack.sync("deals")
    stack.assert_destination_equals_sandbox("companies")
    stack.assert_destination_equals_sandbox("deals")
    deal = next(iter(stack.destination("deals").values()))
    assert deal["stage"] in {"open", "won", "lost"}


async def test_ties_on_systemmodstamp_across_batches_with_expired_locators(sf_stack: Any) -> None:
    stack = sf_stack({"lookback_s": 0}, contacts=50, accounts=0, opportunities=0)
    await stack.sync("contacts")
    stamp = (int(time.time()) - 60) * 1000
    tied = stack.sandbox.create("Contact", 450, stamp_ms=stamp)  # > 2 batches of one second
    stack.sandbox.create("Contact", 20, stamp_ms=stamp - 1000)
    stack.sandbox.create("Contact", 20, stamp_ms=stamp + 1000)
    # Every locator dies after one batch: each next batch is re-queried by (SystemModstamp, Id).
    stack.sandbox.single_use_locators = True
    summary = await stack.sync("contacts")
    assert summary["pages"] >= 3
    assert stack.sandbox.stats["statuses"].get("400", 0) >= 2  # INVALID_QUERY_LOCATOR, recovered
    assert set(tied) <= set(stack.destination("contacts"))
    stack.assert_destination_equals_sandbox("contacts")


async def test_rotating_refresh_token_is_never_burned_by_concurrent_syncs(sf_stack: Any) -> None:
    # Two workflows of one connection hold an access token the org has already ended: both get
    # 401 INVALID_SESSION_ID at once and both ask for a refresh, and every refresh rotates the
    # refresh token (the old one stops working). Sessions also end after 5 s on the org.
    stack = sf_stack({"session_timeout_s": 3600}, contacts=1200, accounts=1200, opportunities=0,
                     session_timeout_s=5, rotate_refresh_tokens=True)
    with engine().begin() as conn:
        connector = build("salesforce", connections.get(conn, stack.connection).config)[0]
        stored = vault.load(conn, stack.connection, for_update=True)
        grant = await refresh(connector, stored.secrets.client_secret,
                              stored.secrets.refresh_token)
        secrets = vault.Secrets(stored.secrets.client_secret, grant.refresh_token,
                                grant.access_token)
        vault.rotate(conn, stack.connection, stored.version, secrets,
                     utcnow() + timedelta(hours=1))
    stack.sandbox.expire_sessions()
    handles = [await stack.start("contacts"), await stack.start("companies")]
    results = await asyncio.wait_for(asyncio.gather(*(h.result() for h in handles)), 300)
    assert all(r["upserted"] >= 1200 for r in results)
    stats = stack.sandbox.stats
    assert stats["invalid_grant"] == 0
    assert stats["refreshes_ok"] >= 2
    # The INVALID_SESSION_ID path was taken (by one stream or both: whichever fetches after the
    # other's refresh already holds the new session).
    assert stats["statuses"].get("401", 0) >= 1
    with engine().connect() as conn:
        stored = vault.load(conn, stack.connection)
    assert stored.secrets.refresh_token == stack.sandbox.refresh_token  # the latest rotation
    stack.assert_destination_equals_sandbox("contacts")
    stack.assert_destination_equals_sandbox("companies")


async def test_jwt_bearer_connection_syncs(sf_stack: Any) -> None:
    stack = sf_stack(jwt=True, contacts=210, accounts=0, opportunities=0)
    await stack.sync("contacts")
    stack.assert_destination_equals_sandbox("contacts")
    assert stack.sandbox.stats["refreshes_ok"] >= 1


async def test_invalid_field_parks_the_stream_with_a_validation_error(sf_stack: Any) -> None:
    mapping = {"entity": "contacts", "id": "Id", "updated_at": "SystemModstamp",
               "fields": {"email": {"source": "Emial", "transform": "email", "required": True}}}
    stack = sf_stack({"mappings": {"contacts": mapping}}, contacts=10, accounts=0,
                     opportunities=0)
    handle = await stack.start("contacts")
    status = await wait_for_status(handle, lambda s: s["blocked"] is not None)
    assert status["blocked"].startswith("validation_error")
    assert "INVALID_FIELD" in status["blocked"] and "Emial" in status["blocked"]
