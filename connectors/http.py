"""The HTTP exchange of every provider, written once: a connector only says what is its own.

`HttpConnector` sends each request (pages and token calls alike) through `_build`, the one place
that sees every URL a credential goes to, with the connection's timeout, and refuses any that
leaves the connection's origin; it redacts what a provider says back (errors, request ids, next
cursors: connectors.redact) in `fetch_page` and `refresh`; it decodes JSON, turns
transport failures, non-success statuses and 200s that carry an error into the error envelope,
reads Retry-After, and runs the OAuth token exchange for every grant.

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

from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar

import httpx
import orjson

from connectors.base import HttpSettings, Page, PageRequest, SyncKind, TokenGrant
from connectors.errors import Category, ProviderError, transport_error
from connectors.oauth import BadKey, Grant
from connectors.redact import MASK, oversized, redact, redact_cursor

STATUS_CATEGORIES: dict[int, Category] = {
    401: "auth_failure", 403: "auth_failure", 408: "timeout", 504: "timeout",
    409: "conflict", 423: "conflict", 429: "rate_limited",
}
STATIC_SECRET_TTL_S = 10 * 365 * 86400  # an API key or password does not expire by itself
TOKEN_OPERATION = "refresh_token"
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


def json_or_none(response: httpx.Response) -> Any:
    """The decoded body, or None when it is not JSON (a provider's fault, mapped by the caller)."""
    try:
        return orjson.loads(response.content)
    except orjson.JSONDecodeError:
        return None


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
    """A header in seconds (Retry-After's delta-seconds form), never negative; else None."""
    try:
        return max(float(headers[name]), 0.0)
    except (KeyError, ValueError):
        return None


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
        authorization = self.authorize(access_token)
        request = self._build(client, call, authorization)
        with self._transport(call.operation):
            response = await client.send(request,
                                         auth=authorization.auth or httpx.USE_CLIENT_DEFAULT)
        reply = Reply(response, json_or_none(response))
        if not self.succeeded(reply):
            raise self.error(reply, call.operation)
        return reply

    def authorize(self, access_token: str) -> Authorization:
        return Authorization(headers={"Authorization": f"Bearer {access_token}"})

    def succeeded(self, reply: Reply) -> bool:
        return reply.status == 200 and reply.body is not None

    def _build(self, client: httpx.Client | httpx.AsyncClient, call: Call,
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
        return int(answer.get("expires_in") or self.default_token_lifetime_s)

    def refresh(self, client_secret: str, refresh_token: str) -> TokenGrant:
        """A new access token; a token endpoint that echoes the form has its words redacted."""
        try:
            return self.exchange(client_secret, refresh_token)
        except ProviderError as exc:
            raise redacted(exc, (client_secret, refresh_token)) from None

    def exchange(self, client_secret: str, refresh_token: str) -> TokenGrant:
        """A new access token. Synchronous: activities.token holds the vault row lock around it."""
        try:
            grant = self.grant(client_secret, refresh_token)
        except BadKey as exc:
            raise ProviderError("auth_failure", str(exc), self.provider, TOKEN_OPERATION) from None
        if grant is None:
            return TokenGrant(client_secret, refresh_token, STATIC_SECRET_TTL_S)
        call = Call(TOKEN_OPERATION, grant.token_url, "POST", form=grant.form,
                    headers={"Accept": "application/json"})
        with httpx.Client() as client:
            request = self._build(client, call, Authorization())
            with self._transport(TOKEN_OPERATION):
                response = client.send(request)
        reply = Reply(response, json_or_none(response))
        answer = reply.body if isinstance(reply.body, dict) else {}
        token = answer.get("access_token")
        if reply.status == 200 and isinstance(token, str) and token:
            # A rotated refresh token replaces the old one (which stops working); without one
            # the current one stays valid.
            return TokenGrant(token, str(answer.get("refresh_token") or refresh_token),
                              self.token_lifetime_s(answer))
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
