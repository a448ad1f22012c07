"""The sandbox's archive, merge and restore over its control API, as api-facts describe them."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from infra.times import parse_ms
from sandbox import HubSpotSandbox, SandboxServer

CONTACTS = "/crm/v3/objects/contacts"


@pytest.fixture
def portal() -> Iterator[tuple[HubSpotSandbox, httpx.Client]]:
    sandbox = HubSpotSandbox(contacts=20, companies=5, rate_limit=100_000,
                             search_per_second=100_000)
    with SandboxServer(sandbox) as server, httpx.Client(base_url=server.url) as client:
        form = {"grant_type": "refresh_token", "client_id": sandbox.client_id,
                "client_secret": sandbox.client_secret, "refresh_token": sandbox.refresh_token}
        token = client.post("/oauth/v1/token", data=form).json()["access_token"]
        client.headers["Authorization"] = f"Bearer {token}"
        yield sandbox, client


def _ids(client: httpx.Client, path: str, **params: str) -> list[str]:
    return [r["id"] for r in client.get(path, params={"limit": "100", **params}).json()["results"]]


def _search_ids(client: httpx.Client, path: str) -> set[str]:
    return {r["id"] for r in client.post(f"{path}/search", json={"limit": 200}).json()["results"]}


def test_archive_merge_restore_as_the_list_and_search_show_them(
        portal: tuple[HubSpotSandbox, httpx.Client]) -> None:
    _, client = portal
    archived = client.post("/_sandbox/objects/contacts/archive", json={"ids": ["1003"]}).json()
    merged = client.post("/_sandbox/objects/contacts/merge",
                         json={"winner": "1001", "loser": "1002"}).json()
    listed = client.get(CONTACTS, params={"archived": "true"}).json()["results"]
    assert [(r["id"], r["archived"]) for r in listed] == [("1002", True), ("1003", True)]
    assert [parse_ms(r["archivedAt"]) for r in listed] == [merged["merged_ms"],
                                                           archived["archived_ms"]]
    assert not {"1002", "1003"} & (set(_ids(client, CONTACTS)) | _search_ids(client, CONTACTS))
    winner = client.get(f"{CONTACTS}/1001", params={"properties": "hs_merged_object_ids"}).json()
    assert winner["properties"]["hs_merged_object_ids"] == "1002"
    assert parse_ms(winner["updatedAt"]) == merged["merged_ms"]

    before = client.get(f"{CONTACTS}/1003", params={"archived": "true"}).json()
    assert client.post("/_sandbox/objects/contacts/restore",
                       json={"ids": ["1003"]}).json() == {"restored": 1}
    assert _ids(client, CONTACTS, archived="true") == ["1002"]
    assert "1003" in _ids(client, CONTACTS) and "1003" in _search_ids(client, CONTACTS)
    restored = client.get(f"{CONTACTS}/1003").json()
    # A restore alone keeps the record's version (the strictest reading of the facts).
    assert restored["properties"]["lastmodifieddate"] == \
        before["properties"]["lastmodifieddate"]
    assert restored["archived"] is False and "archivedAt" not in restored


def test_other_object_types_and_bad_requests(portal: tuple[HubSpotSandbox, httpx.Client]) -> None:
    _, client = portal
    path = "/crm/v3/objects/companies"
    client.post("/_sandbox/objects/companies/archive", json={"ids": ["1001"]})
    assert _ids(client, path, archived="true") == ["1001"]
    # Archiving twice, restoring a live record, merging into itself, an unknown type: refused.
    for action, body in (("archive", {"ids": ["1001"]}), ("restore", {"ids": ["1002"]}),
                         ("merge", {"winner": "1002", "loser": "1002"})):
        assert client.post(f"/_sandbox/objects/companies/{action}", json=body).status_code == 400
    assert client.post("/_sandbox/objects/tickets/archive",
                       json={"ids": ["1"]}).status_code == 404
    assert _ids(client, path, archived="true") == ["1001"]
