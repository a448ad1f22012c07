"""Activities on a database and an HTTP client given explicitly: no worker, no server."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import httpx
import pytest
from temporalio.testing import ActivityEnvironment

from activities.describe import describe
from activities.fetch import fetch
from activities.models import CommitRequest, FetchRequest, StreamRef
from activities.watermark import commit
from infra.times import parse_ms, to_ms
from infra.transactions import Transactions
from sandbox import HubSpotSandbox
from sandbox.hubspot_app import create_app
from starter import connections
from store import staging, sync_state, vault
from store.db import engine
from store.schema import contacts
from store.upsert import upsert_transformed

BASE_URL = "https://hubspot.invalid"  # never resolved: the client's transport is the sandbox app


@pytest.fixture
def hubspot(database_url: str) -> Iterator[HubSpotSandbox]:
    sandbox = HubSpotSandbox(contacts=30)
    status, grant = sandbox.exchange_refresh_token({
        "grant_type": "refresh_token", "client_id": sandbox.client_id,
        "client_secret": sandbox.client_secret, "refresh_token": sandbox.refresh_token})
    assert status == 200
    connections.add("explicit", "hubspot", "t", {
        "base_url": BASE_URL, "token_url": f"{BASE_URL}/oauth/v1/token",
        "client_id": sandbox.client_id, "list_page_size": 10,
        "start_date": "2020-01-01T01:00:00+01:00",
    }, vault.Secrets(sandbox.client_secret, grant["refresh_token"], grant["access_token"]))
    yield sandbox


async def test_fetch_stages_pages_from_the_given_client(hubspot: HubSpotSandbox) -> None:
    db = Transactions(engine())
    request = FetchRequest("explicit", "contacts", "w1", "full_refresh", None,
                           to_ms(datetime(2100, 1, 1)), page_no=0, cursor=None, max_pages=2)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(hubspot))) as client:
        ref = await ActivityEnvironment().run(fetch, db, client, request)
    assert (ref.page_no, ref.fetched, len(ref.page_ids())) == (0, 20, 2)
    assert ref.next_cursor is not None
    with engine().connect() as conn:
        staged = staging.leading_pages(conn, ref.page_ids())
        assert sum(len(p.raw) > 2 for p in staged) == 2
        assert sync_state.run(conn, "w1").kind == "full_refresh"


async def test_describe_reads_the_given_database(hubspot: HubSpotSandbox) -> None:
    info = await describe(Transactions(engine()), StreamRef("explicit", "contacts"))
    assert (info.provider, info.tenant, info.watermark_ms) == ("hubspot", "t", None)
    assert info.start_ms == parse_ms("2020-01-01T00:00:00Z")  # the start date's zone, in UTC


def _upserted_page(conn: Any, window_id: str, newest: datetime) -> None:
    page_id = staging.stage(conn, window_id=window_id, page_no=0, connection="explicit",
                            stream="contacts", raw="[]", fetched=1)
    row = {"external_id": "1", "email": "a@x.io", "source_updated_at": newest, "archived": False}
    staging.save_transformed(conn, page_id, staging.serialize_rows([row]), 1, 0)
    upsert_transformed(conn, contacts, [page_id], connection="explicit", stream="contacts",
                       synced_at=datetime(2026, 1, 1))


async def test_commit_moves_the_watermark_once_and_never_past_the_window(
    hubspot: HubSpotSandbox,
) -> None:
    db = Transactions(engine())
    end = datetime(2025, 6, 1)
    with engine().begin() as conn:
        sync_state.open_run(conn, window_id="w2", connection="explicit", stream="contacts",
                            kind="incremental", window_start=None, window_end=end)
        _upserted_page(conn, "w2", datetime(2025, 7, 1))  # changed after the window's end
    request = CommitRequest("explicit", "contacts", "w2", to_ms(end), advance_watermark=True)
    first = await commit(db, request)
    assert (first.watermark_ms, first.pages, first.upserted) == (to_ms(end), 1, 1)
    assert await commit(db, request) == first  # a retried commit changes nothing
    with engine().connect() as conn:
        assert sync_state.watermark(conn, "explicit", "contacts") == end
        assert conn.execute(contacts.select()).one().email == "a@x.io"
