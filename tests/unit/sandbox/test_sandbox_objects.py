"""The sandbox's companies and deals, and both API path families, over real HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from infra.times import parse_ms
from sandbox import HubSpotSandbox, SandboxServer

UNLIMITED = {"rate_limit": 100_000, "search_per_second": 100_000}
# shared/api-facts.md: the same resources on the legacy and the date-based paths.
FAMILIES = ("/crm/v3/objects", "/crm/objects/2026-03")
COMPANY = ("name", "domain", "industry", "phone", "numberofemployees", "annualrevenue")
DEAL = ("dealname", "amount", "dealstage", "pipeline", "closedate", "deal_currency_code")


@pytest.fixture
def portal() -> Iterator[tuple[HubSpotSandbox, httpx.Client]]:
    sb = HubSpotSandbox(contacts=30, companies=40, deals=50, seed=9, **UNLIMITED)
    with SandboxServer(sb) as server, httpx.Client(base_url=server.url, timeout=10) as client:
        token = client.post("/oauth/v1/token", data={
            "grant_type": "refresh_token", "client_id": sb.client_id,
            "client_secret": sb.client_secret, "refresh_token": sb.refresh_token}).json()
        client.headers["Authorization"] = f"Bearer {token['access_token']}"
        yield sb, client


def _without_links(body: dict[str, Any]) -> dict[str, Any]:
    next_page = (body.get("paging") or {}).get("next")
    if next_page:
        assert next_page.pop("link").startswith("http")
    return body


def _answers(client: httpx.Client, prefix: str, object_type: str) -> list[Any]:
    search = {"filterGroups": [{"filters": [{"propertyName": "hs_lastmodifieddate",
                                             "operator": "GTE", "value": "0"}]}],
              "sorts": [{"propertyName": "hs_lastmodifieddate", "direction": "ASCENDING"}],
              "properties": ["name", "dealname"], "limit": 7}
    listed = client.get(f"{prefix}/{object_type}",
                        params={"limit": 9, "properties": ",".join(COMPANY + DEAL)})
    found = client.post(f"{prefix}/{object_type}/search", json=search)
    first = listed.json()["results"][0]["id"]
    read = client.get(f"{prefix}/{object_type}/{first}")
    missing = client.get(f"{prefix}/tickets")
    assert (listed.status_code, found.status_code, read.status_code) == (200, 200, 200)
    return [_without_links(listed.json()), found.json(), read.json(), missing.status_code,
            missing.json()["category"]]


@pytest.mark.parametrize("object_type", ["companies", "deals"])
def test_both_path_families_answer_alike(portal: Any, object_type: str) -> None:
    _, client = portal
    legacy, dated = (_answers(client, prefix, object_type) for prefix in FAMILIES)
    assert legacy == dated
    assert legacy[3:] == [404, "OBJECT_NOT_FOUND"]
    assert len(legacy[0]["results"]) == 9 and legacy[1]["total"] == 40 + 10 * (
        object_type == "deals")


def test_companies_and_deals_carry_their_documented_properties(portal: Any) -> None:
    sb, client = portal
    for object_type, names in (("companies", COMPANY), ("deals", DEAL)):
        body = client.get(f"/crm/objects/2026-03/{object_type}",
                          params={"limit": 100, "properties": ",".join(names)}).json()
        records = body["results"]
        assert {tuple(sorted(r["properties"])) for r in records} == {tuple(sorted(names))}
        for name in names:  # every property is generated, not left blank everywhere
            assert any(r["properties"][name] for r in records), (object_type, name)
        # The last-modified property is hs_lastmodifieddate, as updatedAt says.
        default = client.get(f"/crm/objects/2026-03/{object_type}").json()["results"][0]
        assert parse_ms(default["properties"]["hs_lastmodifieddate"]) == parse_ms(
            default["updatedAt"])
        assert "lastmodifieddate" not in default["properties"]
    employees = {r["properties"]["numberofemployees"] for r in sb.records("companies")}
    assert None in employees and all(e is None or e.isdigit() for e in employees)


def test_modified_and_created_companies_and_deals_show_in_search(portal: Any) -> None:
    sb, client = portal
    for object_type in ("companies", "deals"):
        before = {r["id"]: r for r in sb.records(object_type)}
        changed = sb.modify_objects(object_type, n=3)
        created = client.post(f"/_sandbox/{object_type}/create", json={"n": 2}).json()["ids"]
        after = {r["id"]: r for r in sb.records(object_type)}
        for object_id in changed:
            old, new = before[object_id]["properties"], after[object_id]["properties"]
            differing = {k for k in new if old.get(k) != new[k]}
            assert len(differing - {"hs_lastmodifieddate"}) == 1  # one property, really changed
            assert "hs_lastmodifieddate" in differing
        newest = max(parse_ms(before[i]["updatedAt"]) for i in before)
        found = client.post(f"/crm/objects/2026-03/{object_type}/search", json={
            "filterGroups": [{"filters": [{"propertyName": "hs_lastmodifieddate",
                                           "operator": "GT", "value": str(newest)}]}],
            "limit": 100}).json()
        assert sorted(r["id"] for r in found["results"]) == sorted(changed + created)
