"""The origin rule of connectors/http.py `_build`: a credentialed request goes to the
connection's origin (the token URL's for token calls), over http(s), or is refused unsent; and
what `fetch_page` hands back is redacted."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from connectors.base import HttpSettings, Page, PageRequest
from connectors.errors import ProviderError
from connectors.http import TOKEN_OPERATION, Authorization, Call, HttpConnector, Reply
from connectors.salesforce import SalesforceConnector
from connectors.salesforce_api import SalesforceSettings

BASE = "https://acme.example"
NOW_MS = 4_102_444_800_000


class Linked(HttpConnector):
    """Fetches whatever URL its cursor names (as a next-link paginator does)."""

    provider = "linked"
    streams = ("things",)

    def page_call(self, request: PageRequest) -> Call:
        return Call("fetch", (request.cursor or {}).get("url", f"{BASE}/things"))

    def parse_page(self, request: PageRequest, reply: Reply) -> Page:
        return Page([], None)


def _build(url: str, operation: str = "fetch",
           authorization: Authorization | None = None) -> httpx.Request:
    connector = Linked(HttpSettings(base_url=BASE))
    with httpx.Client() as client:
        return connector._build(client, Call(operation, url), authorization or Authorization())


def _refused(url: str, operation: str = "fetch") -> ProviderError:
    with pytest.raises(ProviderError) as info:
        _build(url, operation)
    assert info.value.category == "validation_error" and info.value.operation == operation
    return info.value


@pytest.mark.parametrize("url", [
    "https://evil.example/x",
    "https://acme.example:8443/x",  # another port
    "http://acme.example/x",  # another scheme
    "https://acme.example.evil.example/x",  # base_url + ".evil.example/x"
    "https://acme.example@evil.example/x",  # base_url + "@evil.example/x"
    "https://user:pw@acme.example/x",  # user info the connection does not have
    "//evil.example/x",  # scheme-relative: no scheme at all
])
def test_a_url_off_the_connections_origin_is_refused(url: str) -> None:
    error = _refused(url)
    assert "leaves https://acme.example" in error.message or "has scheme none" in error.message


@pytest.mark.parametrize("url", [
    "https://acme.example/x?cursor=2", "https://acme.example:443/x", "https://ACME.example/y",
])
def test_the_same_origin_is_allowed(url: str) -> None:
    assert _build(url).url.host == "acme.example"


@pytest.mark.parametrize(("url", "scheme"), [
    ("file:///etc/passwd", "file"), ("ftp://acme.example/x", "ftp"), ("not a url", "none"),
])
def test_an_unsupported_scheme_is_a_validation_error(url: str, scheme: str) -> None:
    assert f"has scheme {scheme}: only http and https" in _refused(url).message


def test_an_invalid_url_is_a_validation_error() -> None:
    assert "URL is invalid" in _refused("https://acme.example:port/x").message


def test_a_token_call_goes_to_the_token_url_origin() -> None:
    assert _build("https://login.example/token", TOKEN_OPERATION).url.host == "login.example"
    assert "has scheme file" in _refused("file:///token", TOKEN_OPERATION).message


def test_a_masked_credential_in_a_link_is_dropped_and_the_connections_added() -> None:
    request = _build(f"{BASE}/x?cursor=2&access_token=***&api_key=***",
                     authorization=Authorization(params={"api_key": "the-key"}))
    assert dict(request.url.params) == {"cursor": "2", "api_key": "the-key"}


@pytest.mark.parametrize("next_url", [".evil.example/x", ":8443/x", "@evil.example/x"])
def test_a_salesforce_next_url_that_leaves_the_host_is_refused_unsent(next_url: str) -> None:
    connector = SalesforceConnector(
        SalesforceSettings(base_url="https://acme.my.salesforce.com", client_id="cid"),
        {"contacts": ["Email"]})
    request = PageRequest("contacts", "incremental", 0, NOW_MS, {"next": next_url})
    with httpx.Client() as client, pytest.raises(ProviderError) as info:
        connector._build(client, connector.page_call(request), connector.authorize("t"))
    assert info.value.category == "validation_error"


@pytest.mark.parametrize("next_url", [
    "/services/data/v62.0/query/01gX-200/../../../oauth2/token", "/services/oauth2/token",
    "https://evil.example/services/data/v62.0/query/x", "/services/data/v62.0/query?x=1",
])
def test_a_salesforce_next_records_url_must_be_a_path_under_services_data(next_url: str) -> None:
    connector = SalesforceConnector(
        SalesforceSettings(base_url="https://acme.my.salesforce.com", client_id="cid"),
        {"contacts": ["Email"]})
    body: dict[str, Any] = {"done": False, "nextRecordsUrl": next_url, "records": [
        {"Id": "003000000000001AAA", "SystemModstamp": "2030-01-01T00:00:00.000+0000"}]}
    reply = Reply(httpx.Response(200, json=body), body)
    with pytest.raises(ProviderError) as info:
        connector.parse_page(PageRequest("contacts", "incremental", 0, NOW_MS, None), reply)
    assert info.value.category == "validation_error"
    assert "not a path under /services/data/" in info.value.message


class Echoing(Linked):
    """A provider whose error and cursor repeat the access token it was sent."""

    async def read_page(self, client: httpx.AsyncClient, access_token: str,
                        request: PageRequest) -> Page:
        if request.cursor is None:
            return Page([], {"url": f"{BASE}/x?access_token={access_token}&after=2",
                             "seen": [access_token]})
        raise ProviderError("server_error", f"bad token {access_token} " + "y" * 900,
                            self.provider, "fetch", 500, f"req-{access_token}")


async def test_fetch_page_hands_back_redacted_errors_and_cursors() -> None:
    connector, token = Echoing(HttpSettings(base_url=BASE)), "tok-1234567"
    async with httpx.AsyncClient() as client:
        page = await connector.fetch_page(client, token, PageRequest(
            "things", "full_refresh", None, NOW_MS, None))
        assert page.next_cursor == {"url": f"{BASE}/x?access_token=***&after=2", "seen": ["***"]}
        with pytest.raises(ProviderError) as info:
            await connector.fetch_page(client, token, PageRequest(
                "things", "full_refresh", None, NOW_MS, page.next_cursor))
    error = info.value
    assert token not in str(error) and token not in str(error.envelope())
    assert error.message.startswith("bad token *** yyy") and len(error.message) == 500
    assert error.request_id == "req-***"


async def test_an_oversized_next_cursor_is_refused() -> None:
    class Long(Linked):
        async def read_page(self, client: httpx.AsyncClient, access_token: str,
                            request: PageRequest) -> Page:
            return Page([], {"url": f"{BASE}/x?c=" + "z" * 10_000})

    async with httpx.AsyncClient() as client:
        with pytest.raises(ProviderError) as info:
            await Long(HttpSettings(base_url=BASE)).fetch_page(
                client, "t", PageRequest("things", "full_refresh", None, NOW_MS, None))
    assert info.value.category == "validation_error" and "too long" in info.value.message
