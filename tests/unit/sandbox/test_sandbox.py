"""HubSpot sandbox behaviour over real HTTP: OAuth, paging, search, limits, faults, control API."""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from infra.times import parse_ms
from sandbox import HubSpotSandbox, SandboxServer

Serve = Callable[[HubSpotSandbox], httpx.Client]
UNLIMITED = {"rate_limit": 100_000, "search_per_second": 100_000}
CONTACTS = "/crm/v3/objects/contacts"


def refresh(client: httpx.Client, sb: HubSpotSandbox, **overrides: str) -> httpx.Response:
    form = {
        "grant_type": "refresh_token",
        "client_id": sb.client_id,
        "client_secret": sb.client_secret,
        "refresh_token": sb.refresh_token,
    }
    return client.post("/oauth/v1/token", data=form | overrides)


@pytest.fixture
def serve() -> Iterator[Serve]:
    """serve(sb) -> httpx client for a running sandbox, already holding a valid bearer token."""
    servers: list[SandboxServer] = []
    clients: list[httpx.Client] = []

    def start(sb: HubSpotSandbox) -> httpx.Client:
        servers.append(server := SandboxServer(sb).start())
        clients.append(client := httpx.Client(base_url=server.url, timeout=10))
        client.headers["Authorization"] = f"Bearer {refresh(client, sb).json()['access_token']}"
        return client

    yield start
    for client in clients:
        client.close()
    for server in servers:
        server.stop()


def search(client: httpx.Client, **body: Any) -> httpx.Response:
    return client.post(f"{CONTACTS}/search", json=body)


def modified(record: dict[str, Any]) -> int:
    return parse_ms(record["properties"]["lastmodifieddate"])


def search_all(client: httpx.Client, body: dict[str, Any]) -> tuple[list[dict[str, Any]], int]:
    """Every page of one search query, plus the total reported by the first page."""
    results: list[dict[str, Any]] = []
    after: str | None = "0"
    total = -1
    while after is not None:
        page = search(client, **body, after=after)
        assert page.status_code == 200, page.text
        data = page.json()
        total = data["total"] if total < 0 else total
        results.extend(data["results"])
        after = data.get("paging", {}).get("next", {}).get("after")
    return results, total


# ----- OAuth -----


def test_refresh_token_exchange_and_revocation(serve: Serve) -> None:
    sb = HubSpotSandbox(contacts=5)
    client = serve(sb)
    ok = refresh(client, sb)
    assert ok.status_code == 200
    body = ok.json()
    assert body["token_type"] == "bearer" and body["token_use"] == "access_token"
    assert body["refresh_token"] == sb.refresh_token and body["expires_in"] == 1800
    old_access = body["access_token"]

    sb.revoke_refresh_token()
    bad = refresh(client, sb)
    assert bad.status_code == 400
    assert bad.json()["status"] == "BAD_REFRESH_TOKEN" and bad.json()["error"] == "invalid_grant"
    # Tokens issued before the revocation keep working until they expire.
    assert (
        client.get(CONTACTS, headers={"Authorization": f"Bearer {old_access}"}).status_code == 200
    )

    new_refresh = sb.reset_refresh_token()
    assert refresh(client, sb, refresh_token=new_refresh).status_code == 200
    assert refresh(client, sb, client_id="nope").json()["status"] == "BAD_CLIENT_ID"
    assert refresh(client, sb, grant_type="authorization_code").status_code == 400
    assert sb.stats["token_refreshes_ok"] == 3


def test_missing_and_expired_tokens_get_401(serve: Serve) -> None:
    sb = HubSpotSandbox(contacts=5)
    client = serve(sb)
    missing = client.get(CONTACTS, headers={"Authorization": ""})
    assert missing.status_code == 401
    assert missing.json()["category"] == "INVALID_AUTHENTICATION"
    assert client.get(CONTACTS, headers={"Authorization": "Bearer bogus"}).status_code == 401

    sb.expire_access_tokens()
    expired = client.get(CONTACTS)
    assert expired.status_code == 401
    body = expired.json()
    assert body["category"] == "EXPIRED_AUTHENTICATION"
    assert body["message"].startswith("The OAuth token used to make this call expired ")
    assert "expire time" in body["context"] and body["correlationId"]


# ----- list -----


def test_list_paging_walks_every_record_once(serve: Serve) -> None:
    sb = HubSpotSandbox(contacts=1234, **UNLIMITED)
    client = serve(sb)
    seen: list[str] = []
    params: dict[str, Any] = {"limit": 100, "properties": "email,phone,nosuchproperty"}
    while True:
        page = client.get(CONTACTS, params=params)
        assert page.status_code == 200
        data = page.json()
        seen += [r["id"] for r in data["results"]]
        assert set(data["results"][0]["properties"]) == {"email", "phone"}
        if "paging" not in data:
            break
        assert data["paging"]["next"]["link"].startswith("http")
        params["after"] = data["paging"]["next"]["after"]
    assert seen == [r["id"] for r in sb.records()]
    assert len(set(seen)) == 1234

    default = client.get(CONTACTS).json()["results"][0]["properties"]
    assert set(default) == {
        "createdate",
        "email",
        "firstname",
        "hs_object_id",
        "lastmodifieddate",
        "lastname",
    }
    too_big = client.get(CONTACTS, params={"limit": 101})
    assert too_big.status_code == 400 and too_big.json()["category"] == "VALIDATION_ERROR"
    assert client.get("/crm/v3/objects/widgets").status_code == 404
    one = client.get(f"{CONTACTS}/1007", params={"properties": "phone"}).json()
    assert one["id"] == "1007" and set(one["properties"]) == {"phone"}
    missing = client.get(f"{CONTACTS}/99999999")
    assert missing.status_code == 404 and missing.json()["category"] == "OBJECT_NOT_FOUND"
    assert client.get("/crm/v3/objects/companies").json() == {"results": []}


def test_archived_records_leave_list_and_search(serve: Serve) -> None:
    sb = HubSpotSandbox(contacts=30, **UNLIMITED)
    client = serve(sb)
    sb.archive_contacts(["1001", "1002"])
    live = client.get(CONTACTS, params={"limit": 100}).json()["results"]
    assert [r["id"] for r in live][:2] == ["1003", "1004"] and len(live) == 28
    archived = client.get(CONTACTS, params={"archived": "true"}).json()["results"]
    assert [(r["id"], r["archived"]) for r in archived] == [("1001", True), ("1002", True)]
    assert search(client, limit=100).json()["total"] == 28


# ----- search -----


def test_search_range_and_sort_walks_ties_deterministically(serve: Serve) -> None:
    sb = HubSpotSandbox(contacts=20_000, **UNLIMITED)
    client = serve(sb)
    records = sorted(sb.records(), key=lambda r: (modified(r), int(r["id"])))
    ties = Counter(modified(r) for r in records)
    assert max(ties.values()) >= 250  # the big tie group that breaks timestamp-only cursors
    since = modified(records[-5_000])
    expected = [r["id"] for r in records if modified(r) >= since]

    body = {
        "filterGroups": [
            {
                "filters": [
                    {"propertyName": "lastmodifieddate", "operator": "GTE", "value": str(since)}
                ]
            }
        ],
        "sorts": [{"propertyName": "lastmodifieddate", "direction": "ASCENDING"}],
        "properties": ["email"],
        "limit": 200,
    }
    results, total = search_all(client, body)
    assert total == len(expected)
    assert [r["id"] for r in results] == expected
    assert set(results[0]["properties"]) == {
        "email",
        "hs_object_id",
        "createdate",
        "lastmodifieddate",
    }

    # Descending keeps ascending ids inside a tie; ISO values compare like epoch ms.
    until = records[-1]["properties"]["lastmodifieddate"]
    desc = search(
        client,
        limit=200,
        sorts=["-lastmodifieddate"],
        filterGroups=[
            {
                "filters": [
                    {
                        "propertyName": "lastmodifieddate",
                        "operator": "BETWEEN",
                        "value": str(since),
                        "highValue": until,
                    }
                ]
            }
        ],
    ).json()
    want = sorted(records[-5_000:], key=lambda r: (-modified(r), int(r["id"])))
    assert [r["id"] for r in desc["results"]] == [r["id"] for r in want[:200]]


def test_search_operators_and_filter_groups(serve: Serve) -> None:
    sb = HubSpotSandbox(contacts=300, **UNLIMITED)
    client = serve(sb)
    records = sb.records()
    by_id = {r["id"]: r for r in records}

    def ids(*groups: list[dict[str, Any]]) -> list[str]:
        response = search(client, limit=200, filterGroups=[{"filters": g} for g in groups])
        assert response.status_code == 200, response.text
        return [r["id"] for r in response.json()["results"]]

    first = records[0]["properties"]["firstname"]
    assert (
        ids([{"propertyName": "firstname", "operator": "EQ", "value": first.upper()}])
        == [r["id"] for r in records if r["properties"]["firstname"] == first][:200]
    )
    assert ids(
        [{"propertyName": "hs_object_id", "operator": "IN", "values": ["1005", "1001"]}]
    ) == ["1001", "1005"]
    # Groups are OR'ed, filters within a group AND'ed.
    assert ids(
        [{"propertyName": "hs_object_id", "operator": "LTE", "value": "1002"}],
        [
            {"propertyName": "hs_object_id", "operator": "GT", "value": "1010"},
            {"propertyName": "hs_object_id", "operator": "LT", "value": "1013"},
        ],
    ) == ["1001", "1002", "1011", "1012"]
    no_phone = ids([{"propertyName": "phone", "operator": "NOT_HAS_PROPERTY"}])
    assert no_phone and all(not by_id[i]["properties"]["phone"] for i in no_phone)

    too_many = search(client, filterGroups=[{"filters": []}] * 6)
    assert too_many.status_code == 400 and too_many.json()["category"] == "VALIDATION_ERROR"
    assert search(client, sorts=["email", "phone"]).status_code == 400
    assert search(client, limit=201).status_code == 400


def test_search_refuses_paging_beyond_10000_results(serve: Serve) -> None:
    sb = HubSpotSandbox(contacts=10_100, **UNLIMITED)
    client = serve(sb)
    near = search(client, limit=100, after="9900").json()
    assert near["total"] == 10_100 and len(near["results"]) == 100
    assert near["paging"]["next"]["after"] == "10000"
    beyond = search(client, limit=100, after="10000")
    assert beyond.status_code == 400
    assert "10000" in beyond.json()["message"] and beyond.json()["category"] == "VALIDATION_ERROR"


# ----- rate limits -----


def test_ten_secondly_limit_returns_429_with_headers(serve: Serve) -> None:
    sb = HubSpotSandbox(contacts=5, rate_limit=3)
    client = serve(sb)
    remaining = [client.get(CONTACTS).headers["X-HubSpot-RateLimit-Remaining"] for _ in range(3)]
    assert remaining == ["2", "1", "0"]
    limited = client.get(CONTACTS)
    assert limited.status_code == 429
    assert limited.json()["policyName"] == "TEN_SECONDLY_ROLLING"
    assert limited.json()["errorType"] == "RATE_LIMIT"
    assert limited.headers["X-HubSpot-RateLimit-Max"] == "3"
    assert limited.headers["X-HubSpot-RateLimit-Interval-Milliseconds"] == "10000"
    assert "Retry-After" not in limited.headers
    assert search(client).status_code == 200  # search is exempt from the ten-secondly window
    assert sb.stats["responses_429"] == 1


def test_search_per_second_limit(serve: Serve) -> None:
    sb = HubSpotSandbox(contacts=5, search_per_second=2)
    client = serve(sb)
    assert [search(client).status_code for _ in range(2)] == [200, 200]
    limited = search(client)
    assert limited.status_code == 429
    assert limited.json()["message"] == "You have reached your secondly limit."
    assert "X-HubSpot-RateLimit-Max" not in limited.headers


def test_daily_limit(serve: Serve) -> None:
    sb = HubSpotSandbox(contacts=5, daily_limit=2)
    client = serve(sb)
    first = client.get(CONTACTS)
    assert first.headers["X-HubSpot-RateLimit-Daily-Remaining"] == "1"
    client.get(CONTACTS)
    exhausted = client.get(CONTACTS)
    assert exhausted.status_code == 429 and exhausted.json()["policyName"] == "DAILY"


# ----- faults -----


def test_faults_are_served_in_order_before_auth(serve: Serve) -> None:
    sb = HubSpotSandbox(contacts=5)
    client = serve(sb)
    sb.inject("server_error", 4)
    sb.inject("server_error", status=503, retry_after=2)
    statuses = [client.get(CONTACTS, headers={"Authorization": ""}).status_code for _ in range(4)]
    assert statuses == [500, 502, 503, 504]
    pinned = client.get(CONTACTS)
    assert pinned.status_code == 503 and pinned.headers["Retry-After"] == "2"
    assert pinned.json()["correlationId"]
    assert client.get(CONTACTS).status_code == 200
    assert sb.stats["faults_served"] == 5


@pytest.mark.parametrize(
    ("kind", "kwargs", "check"),
    [
        (
            "rate_limit",
            {},
            lambda r: (
                r.status_code == 429
                and "Retry-After" not in r.headers
                and r.json()["policyName"] == "TEN_SECONDLY_ROLLING"
            ),
        ),
        ("rate_limit", {"retry_after": 0.5}, lambda r: r.headers["Retry-After"] == "0.5"),
        ("daily_limit", {}, lambda r: r.status_code == 429 and r.json()["policyName"] == "DAILY"),
        ("error_200", {}, lambda r: r.status_code == 200 and r.json()["status"] == "error"),
        ("malformed_json", {}, lambda r: r.status_code == 200 and not _is_json(r.content)),
        (
            "truncated",
            {},
            lambda r: (
                r.status_code == 200
                and not _is_json(r.content)
                and r.content.startswith(b'{"results":')
            ),
        ),
    ],
)
def test_fault_kinds(
    serve: Serve, kind: str, kwargs: dict[str, Any], check: Callable[[httpx.Response], bool]
) -> None:
    sb = HubSpotSandbox(contacts=5)
    client = serve(sb)
    sb.inject(kind, **kwargs)
    assert check(client.get(CONTACTS))
    assert client.get(CONTACTS).status_code == 200


def _is_json(content: bytes) -> bool:
    try:
        json.loads(content)
    except ValueError:
        return False
    return True


def test_slow_fault_and_token_target(serve: Serve) -> None:
    sb = HubSpotSandbox(contacts=5)
    client = serve(sb)
    sb.inject("slow", delay_s=0.3)
    started = time.monotonic()
    assert client.get(CONTACTS).status_code == 200
    assert time.monotonic() - started >= 0.3

    sb.inject("server_error", status=502, target="token")
    assert refresh(client, sb).status_code == 502
    assert client.get(CONTACTS).status_code == 200  # api requests were not affected
    assert refresh(client, sb).status_code == 200
    sb.inject("server_error", 5)
    sb.clear_faults()
    assert client.get(CONTACTS).status_code == 200


# ----- control API, mutations, determinism -----


def test_control_http_api(serve: Serve) -> None:
    sb = HubSpotSandbox(contacts=20, **UNLIMITED)
    client = serve(sb)
    creds = client.get("/_sandbox/credentials").json()
    assert creds == {
        "client_id": "tributary-sandbox",
        "client_secret": sb.client_secret,
        "refresh_token": sb.refresh_token,
    }
    created = client.post("/_sandbox/contacts/create", json={"n": 2}).json()["ids"]
    assert created == ["1021", "1022"]
    modified_ids = client.post("/_sandbox/contacts/modify", json={"n": 3}).json()["ids"]
    assert len(modified_ids) == 3
    assert client.post("/_sandbox/faults", json={"kind": "server_error", "status": 500}).json()
    assert client.get(CONTACTS).status_code == 500
    assert client.post("/_sandbox/faults", json={"kind": "bogus"}).status_code == 400
    client.post("/_sandbox/tokens/expire")
    assert client.get(CONTACTS).json()["category"] == "EXPIRED_AUTHENTICATION"
    client.post("/_sandbox/refresh-token/revoke")
    assert refresh(client, sb).json()["status"] == "BAD_REFRESH_TOKEN"
    stats = client.get("/_sandbox/stats").json()
    assert stats["requests"] == 2 and stats["faults_served"] == 1
    assert stats["endpoints"]["GET /crm/v3/objects/contacts"] == 2


def test_modify_and_create_bump_timestamps() -> None:
    sb = HubSpotSandbox(contacts=50)
    latest = max(modified(r) for r in sb.records())
    changed = sb.modify_contacts(n=5)
    by_id = {r["id"]: r for r in sb.records()}
    stamps = {modified(by_id[i]) for i in changed}
    assert len(stamps) == 1 and stamps.pop() >= latest
    assert by_id[changed[0]]["updatedAt"] == by_id[changed[0]]["properties"]["lastmodifieddate"]

    tie = latest + 1
    new = sb.create_contacts(3, lastmodified_ms=tie, email="pinned@example.com")
    sb.modify_contacts(ids=["1001"], lastmodified_ms=tie)
    tied = [r["id"] for r in sb.records() if modified(r) == tie]
    assert tied == ["1001", *new]
    assert {sb.records()[-1]["properties"]["email"]} == {"pinned@example.com"}


def test_equal_seeds_give_identical_data() -> None:
    a = HubSpotSandbox(seed=7, contacts=500, invalid_contacts=5)
    b = HubSpotSandbox(seed=7, contacts=500, invalid_contacts=5)
    assert a.records() == b.records()
    assert (a.client_secret, a.refresh_token) == (b.client_secret, b.refresh_token)
    assert a.records() != HubSpotSandbox(seed=8, contacts=500).records()

    invalid = a.invalid_ids()
    assert len(invalid) == 5
    emails = {r["id"]: r["properties"]["email"] for r in a.records()}
    assert all(
        emails[i] is None
        or "@" not in emails[i]
        or " " in emails[i]
        or emails[i].startswith("@")
        or emails[i].endswith("@")
        for i in invalid
    )
    phones = {r["properties"]["phone"] for r in a.records()}
    assert None in phones and any(p and p.startswith("+44") for p in phones)
