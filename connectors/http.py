"""The HTTP exchange of every provider, written once: a connector only says what is its own.

`HttpConnector` sends each request (pages and token calls alike) through `_build`, the one place
that sees every URL a credential goes to, with the connection's timeout, and refuses any that
leaves the connection's origin; it redacts what a provider says back (errors, request ids, next
cursors: connectors.redact) in `fetch_page` and `refresh`; it decodes JSON, turns
transport failures, non-success statuses and 200s that carry an error into the error envelope,
reads Retry-After, and runs the OAuth token exchange for every grant. Every answer is read
through `exchange`: at most `max_response_bytes`, within `timeout_s` from connect to last byte.

A provider (in the style of Singer SDK's RESTStream) overrides hooks:
- `page_call(request)` -> the `Call` for a page; `parse_page(request, reply)` -> records and the
  next cursor (or `read_page` when a page may take more than one call);
- `succeeded(reply)`: whether an answer is a result;
- `fault(reply)`: the provider's error code, message and request id; `categories` maps codes to
  categories, `status_categories` statuses; `retry_after(...)` the provider's own waits;
- `grant(client_secret, refresh_token)`: the token request (`connectors.oauth`), or None when the
  stored secret is itself the credential; `authorize(token)`: how a request carries it.
"""

from __future__ import annotations

import asyncio
import json
import math
import re
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar

import httpx
import orjson

from connectors.base import HttpSettings, Page, PageRequest, SyncKind, TokenGrant, UnusableGrant
from connectors.errors import Category, ProviderError, timed_out, transport_error
from connectors.oauth import BadKey, Grant
from connectors.redact import MASK, oversized, redact, redact_cursor

STATUS_CATEGORIES: dict[int, Category] = {
    401: "auth_failure", 403: "auth_failure", 408: "timeout", 504: "timeout",
    409: "conflict", 423: "conflict", 429: "rate_limited",
}
STATIC_SECRET_TTL_S = 10 * 365 * 86400  # an API key or password does not expire by itself
TOKEN_OPERATION = "refresh_token"
MIN_TOKEN_LIFETIME_S, MAX_TOKEN_LIFETIME_S = 1, 365 * 86400
SCHEMES = {"http": 80, "https": 443}  # what a request may use, with its default port


@dataclass(frozen=True)
class Call:
    """One request a connector wants sent; `operation` names it in errors."""

    operation: str
    url: str
    method: str = "GET"
    params: Mapping[str, Any] | None = None
    json: Any = None
    form: Mapping[str, str] | None = None
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Reply:
    response: httpx.Response
    body: Any  # the decoded JSON; None when the body is not JSON

    @property
    def status(self) -> int:
        return self.response.status_code

    @property
    def headers(self) -> httpx.Headers:
        return self.response.headers


@dataclass(frozen=True)
class Fault:
    """What an error answer says, in the provider's own terms."""

    code: str = ""  # looked up in `categories`
    message: str = ""
    request_id: str | None = None


@dataclass(frozen=True)
class Authorization:
    headers: Mapping[str, str] = field(default_factory=dict)
    params: Mapping[str, str] = field(default_factory=dict)
    auth: httpx.Auth | None = None


def json_or_none(content: bytes | bytearray) -> Any:
    """The decoded body, or None when it is not JSON (a provider's fault, mapped by the caller).

    What orjson refuses but a lenient reader takes is read leniently, or one record's value
    would make its whole page unreadable, retried forever: NaN, Infinity and numbers past a
    double stay as their text (the mapping rejects them where a number goes), integers past
    64 bits are floats (as orjson reads them), lone surrogates and bytes that are not UTF-8
    become U+FFFD.
    """
    try:
        return orjson.loads(content)
    except orjson.JSONDecodeError:
        pass
    try:
        return _valid_text(json.loads(bytes(content).decode("utf-8", "replace"),
                                      parse_float=_finite_or_text, parse_int=_int,
                                      parse_constant=str))
    except (ValueError, RecursionError):
        return None


def _finite_or_text(text: str) -> float | str:
    number = float(text)
    return number if math.isfinite(number) else text


def _int(text: str) -> int | float | str:
    if len(text) <= 20 and -(2**63) <= (number := int(text)) < 2**64:
        return number
    return _finite_or_text(text)


_SURROGATE = re.compile("[\ud800-\udfff]")


def _valid_text(value: Any) -> Any:
    if isinstance(value, str):
        return _SURROGATE.sub("\ufffd", value)
    if isinstance(value, list):
        return [_valid_text(v) for v in value]
    if isinstance(value, dict):
        return {_valid_text(k): _valid_text(v) for k, v in value.items()}
    return value


def token_lifetime(expires_in: Any) -> int:
    """A token response's `expires_in` in whole seconds: a number (or numeric text, as some
    providers send it) from 1 s to a year. Anything else raises ValueError saying why: a
    lifetime of "soon" or 10^15 would otherwise retry forever or never refresh."""
    if isinstance(expires_in, bool):
        raise ValueError(f"expires_in is not a number: {expires_in!r}")
    try:
        seconds = float(expires_in)
    except OverflowError:
        raise ValueError("expires_in is outside 1 s to a year") from None
    except (TypeError, ValueError):
        raise ValueError(f"expires_in is not a number: {str(expires_in)[:40]!r}") from None
    if not MIN_TOKEN_LIFETIME_S <= seconds <= MAX_TOKEN_LIFETIME_S:  # NaN fails both
        raise ValueError(f"expires_in {seconds:g} s is outside 1 s to a year")
    return int(seconds)


def origin(url: httpx.URL) -> tuple[str, str, int | None, str]:
    """Scheme, host, port (the scheme's default spelled out) and user info: what must match."""
    return url.scheme, url.host, url.port or SCHEMES.get(url.scheme), url.userinfo.decode()


def shown(url: httpx.URL) -> str:
    """An origin as a person reads it: https://acme.example, http://127.0.0.1:8080."""
    return f"{url.scheme}://{url.host}" + (f":{url.port}" if url.port else "")


def without_masked(url: httpx.URL) -> httpx.URL:
    """A stored link whose credential was masked (connectors.redact) goes without it: the
    connection's own credential is added by `authorize`, a literal `***` would be refused."""
    for name, value in url.params.multi_items():
        if value == MASK:
            url = url.copy_remove_param(name)
    return url


def redacted(error: ProviderError, secrets: Iterable[str | None]) -> ProviderError:
    """The error with what the provider said (message, request id) safe to store and show."""
    secrets = tuple(secrets)
    request_id = None if error.request_id is None else redact(str(error.request_id), secrets)
    return replace(error, message=redact(error.message, secrets), request_id=request_id)


def seconds_header(headers: httpx.Headers, name: str) -> float | None:
    """A header in seconds (Retry-After's delta-seconds form), never negative; else None (also
    for `inf` and `nan`: not a number of seconds). ProviderError caps what is kept at a day."""
    try:
        seconds = float(headers[name])
    except (KeyError, ValueError):
        return None
    return max(seconds, 0.0) if math.isfinite(seconds) else None


class HttpConnector:
    provider: ClassVar[str]
    streams: tuple[str, ...]
    settings: HttpSettings
    categories: Mapping[str, Category] = {}
    status_categories: ClassVar[Mapping[int, Category]] = STATUS_CATEGORIES
    # A status no rule names (1xx, 3xx: redirects are never followed, other 2xx).
    unexpected_status: ClassVar[Category] = "server_error"
    # Whether a 200 carrying an error code is that error (else it is a malformed response).
    codes_in_200: ClassVar[bool] = True
    # What a 200 that is neither a result nor an error lacks, for the message.
    missing: ClassVar[str] = "no result in body"
    default_token_lifetime_s: ClassVar[int] = 3600

    def __init__(self, settings: HttpSettings) -> None:
        self.settings = settings

    def sliceable_kinds(self, stream: str) -> tuple[SyncKind, ...]:
        return ()

    def rate_keys(self) -> dict[SyncKind, tuple[str, float]]:
        return {}

    # -- pages -----------------------------------------------------------------------------
    async def fetch_page(
        self, client: httpx.AsyncClient, access_token: str, request: PageRequest
    ) -> Page:
        if request.stream not in self.streams:
            raise ProviderError("validation_error", f"unknown stream {request.stream!r}",
                                self.provider, "fetch")
        try:
            page = await self.read_page(client, access_token, request)
        except ProviderError as exc:
            raise redacted(exc, (access_token,)) from None
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            # A 200 whose records lack what every record of the provider has: the provider's
            # fault, retried like any server error rather than crashing the activity.
            raise ProviderError("server_error", f"malformed response: {type(exc).__name__}",
                                self.provider, "fetch") from None
        # The next cursor goes into workflow history: masked there, and refused rather than cut.
        page.next_cursor = redact_cursor(page.next_cursor, (access_token,))
        length = oversized(page.next_cursor)
        if length is not None:
            raise ProviderError("validation_error", f"the next cursor holds a value of {length} "
                                "characters, too long to store", self.provider, "fetch")
        return page

    async def read_page(
        self, client: httpx.AsyncClient, access_token: str, request: PageRequest
    ) -> Page:
        reply = await self.send(client, access_token, self.page_call(request))
        return self.parse_page(request, reply)

    def page_call(self, request: PageRequest) -> Call:
        raise NotImplementedError

    def parse_page(self, request: PageRequest, reply: Reply) -> Page:
        raise NotImplementedError

    async def send(self, client: httpx.AsyncClient, access_token: str, call: Call) -> Reply:
        """Send a credentialed request; a reply that is not a result raises the envelope."""
        reply = await self.exchange(client, call, self.authorize(access_token))
        if not self.succeeded(reply):
            raise self.error(reply, call.operation)
        return reply

    def authorize(self, access_token: str) -> Authorization:
        return Authorization(headers={"Authorization": f"Bearer {access_token}"})

    def succeeded(self, reply: Reply) -> bool:
        return reply.status == 200 and reply.body is not None

    def _build(self, client: httpx.AsyncClient, call: Call,
               authorization: Authorization) -> httpx.Request:
        """Every request, with credentials or to the token endpoint, is built here, and goes to
        the connection's origin (the token URL's, for token calls) or nowhere: a next link, a
        `nextRecordsUrl` or a configured path that leaves it is refused before any request."""
        try:
            home = httpx.URL(call.url if call.operation == TOKEN_OPERATION
                             else self.settings.base_url)
            target = without_masked(httpx.URL(call.url))
            if target.scheme not in SCHEMES:  # file://, ftp://, none: a setting or link to fix
                raise ProviderError("validation_error", f"{call.operation} URL has scheme "
                                    f"{target.scheme or 'none'}: only http and https are "
                                    "supported", self.provider, call.operation)
            params = {**(call.params or {}), **authorization.params}
            if params:  # merged here: httpx's `params=` replaces a next link's own query string
                target = target.copy_merge_params(params)
            request = client.build_request(
                call.method, target, json=call.json, data=call.form,
                headers={**call.headers, **authorization.headers}, timeout=self.settings.timeout_s)
        except httpx.InvalidURL as exc:
            raise ProviderError("validation_error", f"{call.operation} URL is invalid: {exc}",
                                self.provider, call.operation) from None
        url = request.url
        if origin(url) != origin(home):
            raise ProviderError("validation_error", f"{call.operation} URL leaves {shown(home)} "
                                f"(it goes to {shown(url)}): credentials are sent to the "
                                "connection's origin only; no request was made",
                                self.provider, call.operation)
        return request

    async def exchange(self, client: httpx.AsyncClient, call: Call,
                       authorization: Authorization) -> Reply:
        """Send a call (a page's or a token call) and read its whole answer, whatever it says:
        at most `max_response_bytes`, read as it streams in so a larger one is refused before
        it is held, and within `timeout_s` from connecting to the last byte (httpx's timeout is per
        read: a body trickled a byte at a time would never end)."""
        request, operation = self._build(client, call, authorization), call.operation
        timeout_s = self.settings.timeout_s
        try:
            async with asyncio.timeout(timeout_s):
                with self._transport(operation):
                    response = await client.send(
                        request, stream=True, auth=authorization.auth or httpx.USE_CLIENT_DEFAULT)
                    try:
                        body = await self._body(response, operation)
                    finally:
                        await response.aclose()  # an unread rest is dropped with the connection
        except TimeoutError:
            raise timed_out(self.provider, operation, timeout_s) from None
        return Reply(response, json_or_none(body))

    async def _body(self, response: httpx.Response, operation: str) -> bytearray:
        limit = self.settings.max_response_bytes
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > limit:
            raise self._too_large(response, operation)  # refused unread
        body = bytearray()
        async for chunk in response.aiter_bytes():  # decoded: a gzip bomb counts in full
            body += chunk
            if len(body) > limit:
                raise self._too_large(response, operation)
        return body

    def _too_large(self, response: httpx.Response, operation: str) -> ProviderError:
        return ProviderError(
            "validation_error", "the response is larger than max_response_bytes "
            f"({self.settings.max_response_bytes} bytes): lower the stream's page size (or "
            "raise max_response_bytes)", self.provider, operation, response.status_code)

    @contextmanager
    def _transport(self, operation: str) -> Iterator[None]:
        try:
            yield
        except httpx.HTTPError as exc:
            raise transport_error(exc, self.provider, operation,
                                  self.settings.timeout_s) from None

    # -- errors ----------------------------------------------------------------------------
    def fault(self, reply: Reply) -> Fault:
        return Fault(request_id=reply.headers.get("X-Request-Id"))

    def retry_after(self, reply: Reply, category: Category, fault: Fault) -> float | None:
        return seconds_header(reply.headers, "Retry-After")

    def error(self, reply: Reply, operation: str) -> ProviderError:
        """Any answer that is not a result, including a 200 that carries an error."""
        status, fault = reply.status, self.fault(reply)
        if status == 200 and not (self.codes_in_200 and fault.code):
            reason = fault.message or ("body is not JSON" if reply.body is None else self.missing)
            return ProviderError("server_error", f"malformed response: {reason}", self.provider,
                                 operation, status, fault.request_id)
        category = self.category(status, self.categories.get(fault.code))
        return ProviderError(category, fault.message or f"HTTP {status}", self.provider,
                             operation, status, fault.request_id,
                             self.retry_after(reply, category, fault))

    def category(self, status: int, from_code: Category | None) -> Category:
        """A rate limit the provider names wins; then the status; then the provider's code."""
        if from_code == "rate_limited":
            return from_code
        if status in self.status_categories:
            return self.status_categories[status]
        if status >= 500:
            return "server_error"
        if from_code is not None:
            return from_code
        return "validation_error" if 400 <= status < 500 else self.unexpected_status

    # -- tokens ----------------------------------------------------------------------------
    def grant(self, client_secret: str, refresh_token: str) -> Grant | None:
        raise NotImplementedError

    def token_lifetime_s(self, answer: dict[str, Any]) -> int:
        """The access token's lifetime; a provider that sends none gets its documented one."""
        expires_in = answer.get("expires_in")
        if expires_in is None:
            return self.default_token_lifetime_s
        try:
            return token_lifetime(expires_in)
        except ValueError as exc:
            # Retrying gets the same answer from the provider: a person has to look.
            raise ProviderError("auth_failure", f"unusable token response: {exc}",
                                self.provider, TOKEN_OPERATION, 200) from None

    async def refresh(
        self, client: httpx.AsyncClient, client_secret: str, refresh_token: str
    ) -> TokenGrant:
        """A new access token, on the worker's shared client (never blocking its event loop); a
        token endpoint that echoes the form has its words redacted."""
        secrets = (client_secret, refresh_token)
        try:
            return await self._token(client, client_secret, refresh_token)
        except ProviderError as exc:
            raise redacted(exc, secrets) from None
        except UnusableGrant as exc:
            raise UnusableGrant(redacted(exc.error, (*secrets, exc.refresh_token)),
                                exc.refresh_token) from None

    async def _token(
        self, client: httpx.AsyncClient, client_secret: str, refresh_token: str
    ) -> TokenGrant:
        try:
            grant = self.grant(client_secret, refresh_token)
        except BadKey as exc:
            raise ProviderError("auth_failure", str(exc), self.provider, TOKEN_OPERATION) from None
        if grant is None:
            return TokenGrant(client_secret, refresh_token, STATIC_SECRET_TTL_S)
        call = Call(TOKEN_OPERATION, grant.token_url, "POST", form=grant.form,
                    headers={"Accept": "application/json"})
        reply = await self.exchange(client, call, Authorization())
        answer = reply.body if isinstance(reply.body, dict) else {}
        # A rotated refresh token replaces the old one, which stops working: it must be kept
        # whatever else the answer lacks. Without one the current one stays valid.
        rotated = answer.get("refresh_token") if reply.status == 200 else None
        if not (isinstance(rotated, str) and rotated and rotated != refresh_token):
            rotated = None
        try:
            return self._granted(reply, answer, rotated or refresh_token)
        except ProviderError as exc:
            if rotated is None:
                raise
            raise UnusableGrant(exc, rotated) from None

    def _granted(self, reply: Reply, answer: dict[str, Any], refresh_token: str) -> TokenGrant:
        token = answer.get("access_token")
        if reply.status == 200 and isinstance(token, str) and token:
            return TokenGrant(token, refresh_token, self.token_lifetime_s(answer))
        if 400 <= reply.status < 500 or (reply.status == 200 and "error" in answer):
            # invalid_grant and the like: only a person can re-authorize the connection.
            reason = ": ".join(str(part) for part in (
                answer.get("error") or answer.get("status"),
                answer.get("error_description") or answer.get("message")) if part)
            raise ProviderError("auth_failure", f"token refresh refused: {reason or 'refused'}",
                                self.provider, TOKEN_OPERATION, reply.status)
        if reply.status == 200:
            raise ProviderError("server_error", "malformed response: the token response has no "
                                "access_token", self.provider, TOKEN_OPERATION, 200)
        raise self.error(reply, TOKEN_OPERATION)
