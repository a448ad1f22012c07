"""A REST provider described by configuration only (see docs/CONNECTORS.md and examples/).

One connection = base URL + auth + streams; a stream = path, records path, primary key, cursor
field and format, pagination, optional incremental window parameters, and its mapping. Rate-limit
headers and errors carried in a 200 body are configured once per connection.
"""

from __future__ import annotations

import json
import tomllib
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Literal

import httpx
import yaml
from pydantic import BaseModel, ConfigDict, Field

from connectors.base import (
    Page,
    PageRequest,
    SyncKind,
    SyncSettings,
    TokenGrant,
    json_or_none,
)
from connectors.errors import Category, ProviderError, transport_error
from connectors.headroom import header_int, slow_down_ms
from connectors.mapping import Mapping
from connectors.paginators import LoopDetected, Pagination, dig

PROVIDER = "rest"
STATIC_SECRET_TTL_S = 10 * 365 * 86400  # an API key or password does not expire by itself


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class OAuth2RefreshToken(_Model):
    """Vault: client secret + refresh token."""

    type: Literal["oauth2_refresh_token"]
    token_url: str
    client_id: str


class OAuth2ClientCredentials(_Model):
    """Vault: client secret (the refresh token field is unused)."""

    type: Literal["oauth2_client_credentials"]
    token_url: str
    client_id: str
    scope: str | None = None


class ApiKey(_Model):
    """Vault: the key, in the client secret field."""

    type: Literal["api_key"]
    name: str = Field(description="header or query parameter name, e.g. X-API-Key")
    location: Literal["header", "query"] = "header"
    prefix: str = ""  # e.g. "Token " for `Authorization: Token <key>`


class Basic(_Model):
    """Vault: the password, in the client secret field."""

    type: Literal["basic"]
    username: str


Auth = Annotated[
    OAuth2RefreshToken | OAuth2ClientCredentials | ApiKey | Basic, Field(discriminator="type")
]
TimeFormat = Literal["iso8601", "epoch_ms", "epoch_s"]


class Incremental(_Model):
    """Query parameters that bound a window on the provider side."""

    start_param: str
    end_param: str | None = None
    format: TimeFormat = "iso8601"


class StreamSpec(_Model):
    path: str
    params: dict[str, str | int | bool] = {}
    records_path: str = Field("", description="dotted path of the record list; '' = the body")
    primary_key: str = "id"
    cursor_field: str = Field(description="dotted path of the record's last-modified time")
    cursor_format: TimeFormat = "iso8601"
    incremental: Incremental | None = None
    pagination: Pagination
    mapping: Mapping


class RateLimit(_Model):
    remaining_header: str | None = None
    retry_after_header: str = "Retry-After"  # seconds
    reset_header: str | None = None  # epoch seconds when the window resets
    default_retry_s: float = Field(10.0, ge=0)
    # The window's budget (a header, else a fixed number) and length: with the remaining count
    # they let a stream slow down before the budget runs out (connectors.headroom).
    limit_header: str | None = None
    limit: int | None = Field(None, ge=1)
    interval_s: float | None = Field(None, gt=0)


class ErrorInBody(_Model):
    """A 200 whose body says it failed: the value at `path` is present (and one of `values`)."""

    path: str
    values: list[str | int | bool] | None = None
    message_path: str | None = None
    category: Category = "server_error"


class RestSettings(SyncSettings):
    base_url: str
    auth: Auth
    streams: dict[str, StreamSpec] = Field(min_length=1)
    headers: dict[str, str] = {}
    rate_limit: RateLimit = RateLimit()
    error_in_body: ErrorInBody | None = None
    refresh_margin_s: int = Field(60, ge=0)


def load_config(path: Path) -> dict[str, Any]:
    """A connection configuration from a .toml, .json or .yaml file."""
    text = path.read_text()
    if path.suffix == ".toml":
        return tomllib.loads(text)
    if path.suffix == ".json":
        return dict(json.loads(text))
    if path.suffix in (".yaml", ".yml"):
        try:
            loaded = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ValueError(f"{path} is not valid YAML: {exc}") from None
        if not isinstance(loaded, dict):
            raise ValueError(f"{path} must hold a mapping of settings")
        return loaded
    raise ValueError(f"{path}: expected a .toml, .json or .yaml file")


def parse_time(value: Any, fmt: TimeFormat) -> int:
    """Epoch milliseconds of a cursor value."""
    if fmt == "epoch_ms":
        return int(value)
    if fmt == "epoch_s":
        return round(float(value) * 1000)
    parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return round(parsed.timestamp() * 1000)


def format_time(ms: int, fmt: TimeFormat) -> str:
    if fmt == "epoch_ms":
        return str(ms)
    if fmt == "epoch_s":
        return str(ms // 1000)
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds").replace(
        "+00:00", "Z")


class RestConnector:
    provider = PROVIDER

    def __init__(self, settings: RestSettings) -> None:
        self.settings = settings
        self.streams = tuple(settings.streams)

    def _url(self, path: str) -> str:
        if "://" in path:
            return path
        return self.settings.base_url.rstrip("/") + "/" + path.lstrip("/")

    # -- record identity (the first stream's spec serves callers that do not say which) ----
    def sliceable_kinds(self, stream: str) -> tuple[SyncKind, ...]:
        window = self.settings.streams[stream].incremental
        return ("full_refresh", "incremental", "backfill") if window and window.end_param else ()

    def rate_keys(self) -> dict[SyncKind, tuple[str, float]]:
        return {}

    def record_id(self, raw: dict[str, Any], stream: str | None = None) -> str:
        spec = self.settings.streams[stream or self.streams[0]]
        return str(dig(raw, spec.primary_key))

    def record_updated_ms(self, raw: dict[str, Any], stream: str | None = None) -> int:
        spec = self.settings.streams[stream or self.streams[0]]
        return parse_time(dig(raw, spec.cursor_field), spec.cursor_format)

    # -- credentials -----------------------------------------------------------------------
    def refresh(self, client_secret: str, refresh_token: str) -> TokenGrant:
        auth = self.settings.auth
        if isinstance(auth, ApiKey | Basic):
            return TokenGrant(client_secret, refresh_token, STATIC_SECRET_TTL_S)
        form = {"client_id": auth.client_id, "client_secret": client_secret}
        if isinstance(auth, OAuth2RefreshToken):
            form |= {"grant_type": "refresh_token", "refresh_token": refresh_token}
        else:
            form |= {"grant_type": "client_credentials"}
            if auth.scope:
                form["scope"] = auth.scope
        try:
            response = httpx.post(self._url(auth.token_url), data=form,
                                  timeout=self.settings.timeout_s)
        except httpx.HTTPError as exc:
            raise transport_error(exc, PROVIDER, "refresh_token", self.settings.timeout_s) from None
        body = json_or_none(response)
        info = body if isinstance(body, dict) else {}
        if response.status_code == 200 and info.get("access_token"):
            return TokenGrant(info["access_token"], info.get("refresh_token") or refresh_token,
                              int(info.get("expires_in") or 3600))
        if 400 <= response.status_code < 500:
            raise ProviderError("auth_failure", f"token request refused: {info.get('error', '')} "
                                f"{info.get('error_description', '')}".strip(), PROVIDER,
                                "refresh_token", response.status_code)
        raise self._error(response, body, "refresh_token")

    def _authorize(self, token: str) -> tuple[dict[str, str], dict[str, str], httpx.Auth | None]:
        auth = self.settings.auth
        if isinstance(auth, Basic):
            return {}, {}, httpx.BasicAuth(auth.username, token)
        if isinstance(auth, ApiKey):
            if auth.location == "query":
                return {}, {auth.name: token}, None
            return {auth.name: auth.prefix + token}, {}, None
        return {"Authorization": f"Bearer {token}"}, {}, None

    # -- pages -----------------------------------------------------------------------------
    async def fetch_page(
        self, client: httpx.AsyncClient, access_token: str, request: PageRequest
    ) -> Page:
        spec = self.settings.streams.get(request.stream)
        if spec is None:
            raise ProviderError("validation_error", f"unknown stream {request.stream!r}",
                                PROVIDER, "fetch")
        url, params = spec.pagination.request(request.cursor)
        if url is None:  # a next link already carries every parameter
            url = self._url(spec.path)
            params = {**spec.params, **params, **self._window_params(spec, request)}
        headers, auth_params, auth = self._authorize(access_token)
        try:
            response = await client.get(
                url, params={**params, **auth_params} or None,
                auth=auth or httpx.USE_CLIENT_DEFAULT,
                headers={**self.settings.headers, **headers}, timeout=self.settings.timeout_s)
        except httpx.HTTPError as exc:
            raise transport_error(exc, PROVIDER, "fetch", self.settings.timeout_s) from None
        body = json_or_none(response)
        records = dig(body, spec.records_path) if response.status_code == 200 else None
        if not isinstance(records, list) or self._body_error(body) is not None:
            raise self._error(response, body, "fetch")
        try:
            next_cursor = spec.pagination.next_cursor(request.cursor, response, body, records)
        except LoopDetected as exc:
            # A provider or configuration bug: retrying cannot help, a person has to look.
            raise ProviderError("validation_error", f"pagination loop: {exc}", PROVIDER,
                                "fetch", 200) from None
        auth = self.settings.auth
        if next_cursor and isinstance(auth, ApiKey) and auth.location == "query" and \
                "://" in str(next_cursor["token"]):
            # A next link that echoes the key must not carry it into workflow history.
            url = httpx.URL(str(next_cursor["token"])).copy_remove_param(auth.name)
            next_cursor["token"] = str(url)
        if spec.incremental is None and request.window_start_ms is not None:
            # The API cannot filter: keep the window's records (pages are still all read).
            records = [r for r in records if request.window_start_ms
                       <= parse_time(dig(r, spec.cursor_field), spec.cursor_format)
                       < request.window_end_ms]
        remaining = header_int(response.headers, self.settings.rate_limit.remaining_header)
        page = Page(records, next_cursor, remaining)
        page.extra["slow_down_ms"] = self.slow_down(response.headers, remaining)
        return page

    def slow_down(self, headers: httpx.Headers, remaining: int | None) -> int:
        """Spread what is left of the budget over the time until it resets (the reset header),
        or treat the configured interval as a rolling window when the API does not say."""
        limits = self.settings.rate_limit
        maximum = header_int(headers, limits.limit_header) or limits.limit
        reset = header_int(headers, limits.reset_header)
        now_s = datetime.now(UTC).timestamp()
        if reset is not None and reset >= now_s:
            return slow_down_ms(remaining, maximum, (reset - now_s) * 1000, rolling=False)
        interval_ms = limits.interval_s * 1000 if limits.interval_s else None
        return slow_down_ms(remaining, maximum, interval_ms)

    def _window_params(self, spec: StreamSpec, request: PageRequest) -> dict[str, str]:
        window = spec.incremental
        if window is None or request.window_start_ms is None:
            return {}
        params = {window.start_param: format_time(request.window_start_ms, window.format)}
        if window.end_param:
            params[window.end_param] = format_time(request.window_end_ms, window.format)
        return params

    def _body_error(self, body: Any) -> str | None:
        rule = self.settings.error_in_body
        if rule is None:
            return None
        value = dig(body, rule.path)
        if value is None or (rule.values is not None and value not in rule.values):
            return None
        message = dig(body, rule.message_path) if rule.message_path else None
        return str(message or value)[:300]

    def _error(self, response: httpx.Response, body: Any, operation: str) -> ProviderError:
        status = response.status_code
        in_body = self._body_error(body)
        if status == 200:
            if in_body is not None:
                assert self.settings.error_in_body is not None
                return ProviderError(self.settings.error_in_body.category,
                                     f"error in a 200 body: {in_body}", PROVIDER, operation, 200)
            reason = "body is not JSON" if body is None else "no record list at the records path"
            return ProviderError("server_error", f"malformed response: {reason}", PROVIDER,
                                 operation, status)
        message = in_body or f"HTTP {status}"
        retry_after = self._retry_after(response)
        category: Category
        if status == 429:
            category = "rate_limited"
            retry_after = retry_after if retry_after is not None else (
                self.settings.rate_limit.default_retry_s)
        elif status in (401, 403):
            category = "auth_failure"
        elif status in (408, 504):
            category = "timeout"
        elif status in (409, 423):
            category = "conflict"
        elif status >= 500:
            category = "server_error"
        else:
            category = "validation_error"
        return ProviderError(category, message, PROVIDER, operation, status,
                             response.headers.get("X-Request-Id"), retry_after)

    def _retry_after(self, response: httpx.Response) -> float | None:
        limits = self.settings.rate_limit
        try:
            return max(float(response.headers[limits.retry_after_header]), 0.0)
        except (KeyError, ValueError):
            pass
        if limits.reset_header and response.headers.get(limits.reset_header, "").isdigit():
            reset = int(response.headers[limits.reset_header])
            return max(reset - datetime.now(UTC).timestamp(), 0.0)
        return None

