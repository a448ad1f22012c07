"""The HubSpot connector's archived list (deletes passes) against the sandbox over HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from connectors.base import ListsArchived
from connectors.errors import ProviderError
from connectors.http import Reply
from connectors.hubspot import HubSpotConnector, HubSpotSettings, _archived_page
from infra.times import parse_ms
from sandbox import HubSpotSandbox, SandboxServer, hubspot_archive
from tests.support.tokens import refresh


@pytest.fixture
def live() -> Iterator[tuple[HubSpotSandbox, HubSpotConnector, SandboxServer]]:
    sandbox = HubSpotSandbox(contacts=50, seed=3, rate_limit=10_000, search_per_second=10_000)
    with SandboxServer(sandbox) as server:
        settings = HubSpotSettings(base_url=server.url, token_url=f"{server.url}/oauth/v1/token",
                                   client_id=sandbox.client_id, list_page_size=4)
        yield sandbox, HubSpotConnector(settings, {"contacts": ["email"]}), server


async def test_fetch_archived_walks_every_archived_record_with_its_instant(live: Any) -> None:
    sandbox, connector, _ = live
    first = hubspot_archive.archive(sandbox, "contacts", [str(i) for i in range(1001, 1010)])
    merged = hubspot_archive.merge(sandbox, "contacts", "1020", "1030")
    token = (await refresh(connector, sandbox.client_secret, sandbox.refresh_token)).access_token
    seen, cursor, pages = [], None, 0
    async with httpx.AsyncClient() as client:
        while True:
            page = await connector.fetch_archived(client, token, "contacts", cursor)
            seen += page.archived
            pages += 1
            cursor = page.next_cursor
            if cursor is None:
                break
    assert seen == [(str(i), first) for i in range(1001, 1010)] + [("1030", merged)]
    assert pages == 3  # ten records, four a page
    assert isinstance(connector, ListsArchived)
    assert connector.deletes_every_s("contacts") == 3600
    assert sandbox.stats["endpoints"][f"GET {connector.settings.paths.objects('contacts')}"] == 3


def test_archived_answers_are_bounded() -> None:
    def page(results: list[Any], after: str | None = None) -> Any:
        body: dict[str, Any] = {"results": results}
        if after:
            body["paging"] = {"next": {"after": after}}
        return _archived_page(Reply(httpx.Response(200, json=body), body),
                              {"after": "5"} if after == "5" else None)

    at = "2026-01-02T03:04:05.678Z"
    got = page([{"id": "1", "archived": True, "archivedAt": at},
                {"id": "2", "archived": False, "archivedAt": at},  # not archived: skipped
                {"id": "x" * 201, "archived": True, "archivedAt": at},  # no row can have it
                {"id": "4", "archived": True, "archivedAt": "soon"},  # no instant: skipped
                {"id": "5", "archived": True, "archivedAt": 10**30},
                {"id": 3, "archived": True, "updatedAt": at}], after="9")
    assert got.archived == [("1", parse_ms(at)), ("3", parse_ms(at))]
    assert got.next_cursor == {"after": "9"}
    with pytest.raises(ProviderError, match="repeated"):
        page([], after="5")
