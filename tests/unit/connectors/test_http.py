"""The connector base (connectors/http.py): the status table, Retry-After, transport failures,
and the token exchange of every grant against the sandboxes' real OAuth endpoints."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from connectors.base import HttpSettings, Page, PageRequest
from connectors.errors import MAX_WAIT_S, Category, ProviderError
from connectors.http import (
    STATIC_SECRET_TTL_S,
    Call,
    Fault,
    HttpConnector,
    Reply,
    json_or_none,
    seconds_header,
)
from connectors.hubspot import HubSpotConnector, HubSpotSettings
from connectors.registry import build
from connectors.rest import RestConnector
from connectors.rest_config import RestSettings, load_config
from sandbox import HubSpotSandbox, SandboxServer
from sandbox.hostile_bodies import HostileApi
from sandbox.hostile_bodies import create_app as hostile_app
from sandbox.rest_example import PeopleApi, create_app
from sandbox.salesforce_app import create_app as salesforce_app
from sandbox.salesforce_state import SalesforceSandbox
from store.staging import serialize_records
from tests.support.stacks import EXAMPLES
from tests.support.tokens import refresh

NOW_MS = 4_102_444_800_000


class Plain(HttpConnector):
    """The base's defaults and nothing of a provider's own: GET {base_url}/things."""

    provider = "plain"
    streams = ("things",)

    def page_call(self, request: PageRequest) -> Call:
        return Call("fetch", f"{self.settings.base_url}/crm/v3/objects/contacts")

    def parse_page(self, request: PageRequest, reply: Reply) -> Page:
        return Page(reply.body["things"], None)


class Coded(Plain):
    """Error codes in the body: {"code": ...}."""

    categories = {"SLOW": "rate_limited", "BAD": "validation_error", "BUSY": "timeout"}

    def fault(self, reply: Reply) -> Fault:
        return Fault(reply.body.get("code", ""), "", None)


def _plain(url: str = "http://127.0.0.1:9", **settings: Any) -> Plain:
    return Plain(HttpSettings(base_url=url, **settings))


def _reply(status: int, body: Any = None, headers: dict[str, str] | None = None) -> Reply:
    content = b"not json" if body is None else httpx.Response(200, json=body).content
    return Reply(httpx.Response(status, content=content, headers=headers), body)


@pytest.mark.parametrize(
    ("status", "category"),
    [(401, "auth_failure"), (403, "auth_failure"), (408, "timeout"), (504, "timeout"),
     (409, "conflict"), (423, "conflict"), (429, "rate_limited"), (500, "server_error"),
     (503, "server_error"), (400, "validation_error"), (404, "validation_error"),
     (302, "server_error"), (204, "server_error")],
)
def test_default_status_table(status: int, category: Category) -> None:
    error = _plain().error(_reply(status, {}), "fetch")
    assert (error.category, error.status, error.message) == (category, status, f"HTTP {status}")


@pytest.mark.parametrize(
    ("status", "code", "category"),
    [(401, "SLOW", "rate_limited"),  # a rate limit the provider names wins over the status
     (401, "BAD", "auth_failure"),  # then the status
     (500, "BAD", "server_error"),
     (400, "BUSY", "timeout"),  # then the provider's code
     (200, "BAD", "validation_error"),  # a 200 that carries an error is that error
     (400, "UNKNOWN", "validation_error"), (302, "UNKNOWN", "server_error")],
)
def test_provider_codes_rank_between_statuses(status: int, code: str, category: str) -> None:
    connector = Coded(HttpSettings(base_url="http://127.0.0.1:9"))
    assert connector.error(_reply(status, {"code": code}), "fetch").category == category


def test_json_strict_readers_refuse_is_read_leniently_and_can_be_staged() -> None:
    # One record's value must not make its whole page unreadable (a server_error forever).
    body = (b'[{"a": NaN, "b": Infinity, "c": -Infinity, "d": 1e400, "e": 1.5, "f": 7},'
            b' {"g": "\\ud800x", "h": "\\ud83d\\ude00", "caf\xe9": 18446744073709551616,'
            b' "i": ' + b"9" * 5000 + b'}]')
    parsed = json_or_none(body)
    assert parsed == [{"a": "NaN", "b": "Infinity", "c": "-Infinity", "d": "1e400", "e": 1.5,
                       "f": 7},
                      {"g": "\ufffdx", "h": "\U0001f600", "caf\ufffd": 2.0**64, "i": "9" * 5000}]
    assert serialize_records(parsed)
    for not_json in (b"<html>Service Unavailable</html>", b"[" * 100_000, b""):
        assert json_or_none(not_json) is None


def test_a_200_that_is_neither_result_nor_error_is_malformed() -> None:
    coded = Coded(HttpSettings(base_url="http://127.0.0.1:9"))
    assert coded.error(_reply(200, {}), "fetch").message == "malformed response: no result in body"
    assert _plain().error(_reply(200), "fetch").message == "malformed response: body is not JSON"

    class NoCodesIn200(Coded):
        codes_in_200 = False

    error = NoCodesIn200(coded.settings).error(_reply(200, {"code": "BAD"}), "fetch")
    assert error.category == "server_error"


@pytest.mark.parametrize(
    ("value", "seconds"),
    [("3", 3.0), ("0.5", 0.5), ("-5", 0.0), ("soon", None), ("", None), (None, None)],
)
def test_retry_after_seconds(value: str | None, seconds: float | None) -> None:
    headers = httpx.Headers({"Retry-After": value} if value is not None else {})
    assert seconds_header(headers, "Retry-After") == seconds
    error = _plain().error(_reply(429, {}, dict(headers)), "fetch")
    assert error.retry_after == seconds


def test_request_id_comes_from_the_response() -> None:
    error = _plain().error(_reply(500, {}, {"X-Request-Id": "req-7"}), "fetch")
    assert error.request_id == "req-7" and "req-7" in str(error)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_unknown_stream_is_refused_before_any_request() -> None:
    async with httpx.AsyncClient() as client:
        with pytest.raises(ProviderError) as info:
            await _plain().fetch_page(client, "t", PageRequest("nope", "full_refresh", None,
                                                               NOW_MS, None))
    assert (info.value.category, info.value.message) == ("validation_error",
                                                         "unknown stream 'nope'")


async def test_no_answer_is_a_server_error() -> None:
    connector = _plain(f"http://127.0.0.1:{_closed_port()}")
    async with httpx.AsyncClient() as client:
        with pytest.raises(ProviderError) as info:
            await connector.fetch_page(client, "t", PageRequest("things", "full_refresh", None,
                                                                NOW_MS, None))
    assert info.value.category == "server_error" and "connection failed" in info.value.message


@pytest.fixture
def hubspot() -> Iterator[tuple[HubSpotSandbox, str]]:
    sandbox = HubSpotSandbox(contacts=3, seed=4, rotate_refresh_tokens=True)
    with SandboxServer(sandbox) as server:
        yield sandbox, server.url


def _hubspot(sandbox: HubSpotSandbox, url: str, **settings: Any) -> HubSpotConnector:
    return HubSpotConnector(HubSpotSettings(base_url=url, token_url=f"{url}/oauth/v1/token",
                                            client_id=sandbox.client_id, **settings),
                            {"contacts": ["email"]})


async def test_a_result_without_its_fields_is_a_malformed_response(hubspot: Any) -> None:
    sandbox, url = hubspot
    token = await refresh(_hubspot(sandbox, url), sandbox.client_secret, sandbox.refresh_token)
    async with httpx.AsyncClient() as client:
        with pytest.raises(ProviderError) as info:  # the list answers `results`, not `things`
            await _plain(url).fetch_page(client, token.access_token, PageRequest(
                "things", "full_refresh", None, NOW_MS, None))
    assert (info.value.category, info.value.message) == ("server_error",
                                                         "malformed response: KeyError")


async def test_refresh_token_grant_rotates(hubspot: Any) -> None:
    sandbox, url = hubspot
    connector = _hubspot(sandbox, url)
    first = sandbox.refresh_token
    grant = await refresh(connector, sandbox.client_secret, first)
    assert grant.refresh_token == sandbox.refresh_token != first
    assert grant.expires_in_s == int(sandbox.token_ttl_s)
    with pytest.raises(ProviderError) as info:
        await refresh(connector, sandbox.client_secret, first)  # the rotated-out token
    assert (info.value.category, info.value.status) == ("auth_failure", 400)
    assert "invalid_grant" in info.value.message and first not in str(info.value)


@pytest.mark.parametrize(
    ("fault", "category", "status"),
    [({"kind": "server_error", "status": 502}, "server_error", 502),
     ({"kind": "error_200"}, "server_error", 200),
     ({"kind": "malformed_json"}, "server_error", 200),
     ({"kind": "slow", "delay_s": 1.0}, "timeout", None)],
)
async def test_token_endpoint_faults(hubspot: Any, fault: dict[str, Any], category: str,
                                     status: int | None) -> None:
    sandbox, url = hubspot
    sandbox.inject(target="token", **fault)
    with pytest.raises(ProviderError) as info:
        await refresh(_hubspot(sandbox, url, timeout_s=0.3), sandbox.client_secret,
                      sandbox.refresh_token)
    assert (info.value.category, info.value.status, info.value.operation) == (
        category, status, "refresh_token")


@pytest.fixture
def people() -> Iterator[tuple[PeopleApi, str]]:
    api = PeopleApi(people=3)
    with SandboxServer(api, app=create_app(api)) as server:
        yield api, server.url


def _rest(url: str, auth: dict[str, Any]) -> RestConnector:
    config = load_config(EXAMPLES / "people_api.toml") | {"base_url": url, "auth": auth}
    return RestConnector(RestSettings.model_validate(config))


async def test_client_credentials_grant(people: Any) -> None:
    api, url = people
    connector = _rest(url, {"type": "oauth2_client_credentials", "token_url": "/oauth/token",
                            "client_id": api.client_id})
    grant = await refresh(connector, api.api_key, "")
    assert grant.expires_in_s == 3600 and grant.refresh_token == ""
    async with httpx.AsyncClient() as client:  # the token opens the API
        page = await connector.fetch_page(client, grant.access_token, PageRequest(
            "people", "full_refresh", None, NOW_MS, None))
    assert len(page.records) == 3
    with pytest.raises(ProviderError) as info:
        await refresh(connector, "wrong", "")
    assert (info.value.category, info.value.status) == ("auth_failure", 401)
    assert "invalid_client" in info.value.message


@pytest.mark.parametrize("auth", [{"type": "api_key", "name": "X-API-Key"},
                                  {"type": "basic", "username": "anyone"}])
async def test_static_secrets_are_their_own_token(people: Any, auth: dict[str, Any]) -> None:
    api, url = people
    # Nothing listens there: a token request would fail.
    grant = await refresh(_rest(f"http://127.0.0.1:{_closed_port()}", auth), api.api_key, "")
    assert (grant.access_token, grant.expires_in_s) == (api.api_key, STATIC_SECRET_TTL_S)
    async with httpx.AsyncClient() as client:  # and the secret opens the API
        page = await _rest(url, auth).fetch_page(client, grant.access_token, PageRequest(
            "people", "full_refresh", None, NOW_MS, None))
    assert len(page.records) == 3


@pytest.fixture
def org() -> Iterator[tuple[SalesforceSandbox, str]]:
    sandbox = SalesforceSandbox(contacts=2, accounts=0, opportunities=0)
    with SandboxServer(sandbox, app=salesforce_app(sandbox)) as server:
        yield sandbox, server.url


async def test_jwt_bearer_grant(org: Any) -> None:
    sandbox, url = org
    connector = build("salesforce", {
        "base_url": url, "token_url": f"{url}/services/oauth2/token",
        "client_id": sandbox.client_id, "credential_type": "jwt_bearer",
        "username": sandbox.username, "session_timeout_s": 900})[0]
    grant = await refresh(connector, sandbox.private_key_pem, "")
    assert grant.access_token and grant.expires_in_s == 900  # the session timeout
    answered = dict(sandbox.stats["statuses"])
    with pytest.raises(ProviderError) as info:
        await refresh(connector, "not a key", "")
    assert (info.value.category, info.value.message) == (
        "auth_failure", "the stored private key is not a PEM key")
    assert sandbox.stats["statuses"] == answered  # refused before any request


# -- what an answer may cost: max_response_bytes and the timeout_s deadline ----------------------
LIMIT = 64 * 1024  # the smallest max_response_bytes allowed


@pytest.fixture
def hostile() -> Iterator[tuple[HostileApi, str]]:
    api = HostileApi(people=3, page_bytes=2 * LIMIT, trickle_s=0.05)
    with SandboxServer(api, app=hostile_app(api)) as server:
        yield api, server.url


def _hostile(url: str, mode: str, params: dict[str, str] | None = None,
             **settings: Any) -> RestConnector:
    config = load_config(EXAMPLES / "people_api.toml") | {"base_url": url, **settings}
    config["streams"]["people"] |= {
        "path": f"/v1/hostile/{mode}", "params": params or {}, "records_path": "data",
        "pagination": {"type": "cursor", "cursor_path": "next", "param": "cursor"}}
    return RestConnector(RestSettings.model_validate(config))


async def _fetch(connector: RestConnector, key: str) -> Page:
    async with httpx.AsyncClient() as client:
        return await connector.fetch_page(client, key, PageRequest(
            "people", "full_refresh", None, NOW_MS, None))


@pytest.mark.parametrize("chunked", [False, True], ids=["content_length", "chunked"])
async def test_an_answer_over_max_response_bytes_is_refused(hostile: Any, chunked: bool) -> None:
    api, url = hostile
    params = {"chunked": "1"} if chunked else {}
    with pytest.raises(ProviderError) as info:
        await _fetch(_hostile(url, "huge", params, max_response_bytes=LIMIT), api.api_key)
    assert (info.value.category, info.value.status) == ("validation_error", 200)
    assert f"larger than max_response_bytes ({LIMIT} bytes)" in info.value.message
    # The same page under a limit that holds it: read whole, every record.
    page = await _fetch(_hostile(url, "huge", params, max_response_bytes=4 * LIMIT),
                        api.api_key)
    assert len(api.huge({})) > 2 * LIMIT and [r["id"] for r in page.records[:3]] == [1, 2, 3]


async def test_a_declared_length_over_the_limit_is_refused_before_the_body() -> None:
    # Headers that announce a gigabyte, then silence: refused at once, not timed out.
    done = asyncio.Event()

    async def announce(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 1000000000\r\n\r\n{")
        await writer.drain()
        await done.wait()
        writer.close()

    server = await asyncio.start_server(announce, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        connector = _plain(f"http://127.0.0.1:{port}", max_response_bytes=LIMIT, timeout_s=5)
        async with httpx.AsyncClient() as client:
            with pytest.raises(ProviderError) as info:
                await connector.fetch_page(client, "t", PageRequest(
                    "things", "full_refresh", None, NOW_MS, None))
    finally:
        done.set()
        server.close()
        await server.wait_closed()
    assert info.value.category == "validation_error", info.value.message


@pytest.mark.parametrize("mode", ["trickle", "endless"])
async def test_timeout_s_covers_the_whole_answer(hostile: Any, mode: str) -> None:
    # Each read takes 50 ms (10 ms endless): httpx's own timeout never fires. The endless body
    # comes a kilobyte per 10 ms at most, so it reaches the limit only well after timeout_s.
    api, url = hostile
    with pytest.raises(ProviderError) as info:
        await _fetch(_hostile(url, mode, timeout_s=0.5, max_response_bytes=4 * LIMIT),
                     api.api_key)
    assert (info.value.category, info.value.message) == (
        "timeout", "no response within 0.5s (timeout_s, from connecting to the last byte)")


@pytest.mark.parametrize(("mode", "category"), [("huge", "validation_error"),
                                                ("trickle", "timeout")])
async def test_a_token_answer_is_read_within_the_same_bounds(hostile: Any, mode: str,
                                                             category: str) -> None:
    api, url = hostile
    connector = _hostile(url, "paged", max_response_bytes=LIMIT, timeout_s=0.5, auth={
        "type": "oauth2_client_credentials", "token_url": f"/oauth/{mode}", "client_id": "c"})
    with pytest.raises(ProviderError) as info:
        await refresh(connector, api.api_key, "")
    assert (info.value.category, info.value.operation) == (category, "refresh_token")


@pytest.mark.parametrize("value", ["inf", "-inf", "nan", "1e400"])
def test_retry_after_that_is_no_number_of_seconds_is_none(value: str) -> None:
    headers = {"Retry-After": value}
    assert seconds_header(httpx.Headers(headers), "Retry-After") is None
    assert _plain().error(_reply(503, {}, headers), "fetch").retry_after is None


def test_retry_after_over_a_day_is_a_day() -> None:
    error = _plain().error(_reply(429, {}, {"Retry-After": "99999999"}), "fetch")
    assert error.retry_after == MAX_WAIT_S == 86_400
