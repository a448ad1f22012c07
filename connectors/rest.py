"""A REST provider described by configuration only (connectors.rest_config, docs/CONNECTORS.md)."""

from __future__ import annotations

from typing import Any, ClassVar

import httpx

from connectors import oauth
from connectors.base import Page, PageRequest, SyncKind
from connectors.errors import Category, ProviderError
from connectors.headroom import header_int, slow_down_ms
from connectors.http import Authorization, Call, Fault, HttpConnector, Reply, seconds_header
from connectors.paginators import LoopDetected, dig
from connectors.rest_config import (
    ApiKey,
    Basic,
    OAuth2RefreshToken,
    RestSettings,
    StreamSpec,
    TimeFormat,
)
from infra.times import iso, now_ms, parse_iso, to_ms

PROVIDER = "rest"
IN_BODY = "error_in_body"  # the code of an error a 200 body carries (its category: configured)


def parse_time(value: Any, fmt: TimeFormat) -> int:
    """Epoch milliseconds of a cursor value."""
    if fmt == "epoch_ms":
        return int(value)
    if fmt == "epoch_s":
        return round(float(value) * 1000)
    return to_ms(parse_iso(str(value)))


def _in_window(record: Any, spec: StreamSpec, start_ms: int, end_ms: int) -> bool:
    """Whether the record's cursor value falls in the window. One that cannot be read is kept:
    the mapping then takes or rejects the record with its reason, where failing here would fail
    the page on every attempt."""
    try:
        at = parse_time(dig(record, spec.cursor_field), spec.cursor_format)
    except (ValueError, TypeError, OverflowError):
        return True
    return start_ms <= at < end_ms


def format_time(ms: int, fmt: TimeFormat) -> str:
    if fmt == "epoch_ms":
        return str(ms)
    if fmt == "epoch_s":
        return str(ms // 1000)
    return iso(ms)


class RestConnector(HttpConnector):
    provider = PROVIDER
    unexpected_status: ClassVar[Category] = "validation_error"
    missing = "no record list at the records path"
    settings: RestSettings

    def __init__(self, settings: RestSettings) -> None:
        super().__init__(settings)
        self.streams = tuple(settings.streams)
        if settings.error_in_body is not None:
            self.categories = {IN_BODY: settings.error_in_body.category}

    def _url(self, path: str) -> str:
        if "://" in path:
            return path
        return self.settings.base_url.rstrip("/") + "/" + path.lstrip("/")

    def sliceable_kinds(self, stream: str) -> tuple[SyncKind, ...]:
        window = self.settings.streams[stream].incremental
        return ("full_refresh", "incremental", "backfill") if window and window.end_param else ()

    # -- credentials -----------------------------------------------------------------------
    def grant(self, client_secret: str, refresh_token: str) -> oauth.Grant | None:
        auth = self.settings.auth
        if isinstance(auth, ApiKey | Basic):
            return None  # the stored secret is the credential
        if isinstance(auth, OAuth2RefreshToken):
            return oauth.refresh_token(self._url(auth.token_url), auth.client_id, client_secret,
                                       refresh_token)
        return oauth.client_credentials(self._url(auth.token_url), auth.client_id,
                                        client_secret, auth.scope)

    def authorize(self, access_token: str) -> Authorization:
        auth = self.settings.auth
        if isinstance(auth, Basic):
            return Authorization(auth=httpx.BasicAuth(auth.username, access_token))
        if isinstance(auth, ApiKey):
            if auth.location == "query":
                return Authorization(params={auth.name: access_token})
            return Authorization(headers={auth.name: auth.prefix + access_token})
        return super().authorize(access_token)

    # -- pages -----------------------------------------------------------------------------
    def page_call(self, request: PageRequest) -> Call:
        spec = self.settings.streams[request.stream]
        url, params = spec.pagination.request(request.cursor)
        if url is None:  # a next link already carries every parameter
            url = self._url(spec.path)
            params = {**spec.params, **params, **self._window_params(spec, request)}
        return Call("fetch", url, params=params, headers=self.settings.headers)

    def succeeded(self, reply: Reply) -> bool:
        return reply.status == 200 and self._body_error(reply.body) is None

    def parse_page(self, request: PageRequest, reply: Reply) -> Page:
        spec = self.settings.streams[request.stream]
        records = dig(reply.body, spec.records_path)
        if not isinstance(records, list):
            raise self.error(reply, "fetch")
        try:
            next_cursor = spec.pagination.next_cursor(request.cursor, reply.response, reply.body,
                                                      records)
        except LoopDetected as exc:
            # A provider or configuration bug: retrying cannot help, a person has to look.
            raise ProviderError("validation_error", f"pagination loop: {exc}", PROVIDER,
                                "fetch", 200) from None
        if spec.incremental is None and request.window_start_ms is not None:
            # The API cannot filter: keep the window's records (pages are still all read).
            start, end = request.window_start_ms, request.window_end_ms
            records = [r for r in records if _in_window(r, spec, start, end)]
        remaining = header_int(reply.headers, self.settings.rate_limit.remaining_header)
        return Page(records, next_cursor, remaining, self.slow_down(reply.headers, remaining))

    def slow_down(self, headers: httpx.Headers, remaining: int | None) -> int:
        """Spread what is left of the budget over the time until it resets (the reset header),
        or treat the configured interval as a rolling window when the API does not say."""
        limits = self.settings.rate_limit
        maximum = header_int(headers, limits.limit_header) or limits.limit
        reset = header_int(headers, limits.reset_header)
        now_s = now_ms() / 1000
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

    # -- errors ----------------------------------------------------------------------------
    def _body_error(self, body: Any) -> str | None:
        rule = self.settings.error_in_body
        if rule is None:
            return None
        value = dig(body, rule.path)
        if value is None or (rule.values is not None and value not in rule.values):
            return None
        message = dig(body, rule.message_path) if rule.message_path else None
        return str(message or value)

    def fault(self, reply: Reply) -> Fault:
        in_body = self._body_error(reply.body)
        request_id = reply.headers.get("X-Request-Id")
        if in_body is None:
            return Fault(request_id=request_id)
        if reply.status == 200:  # the configured category applies to a 200 only
            return Fault(IN_BODY, f"error in a 200 body: {in_body}", request_id)
        return Fault("", in_body, request_id)

    def retry_after(self, reply: Reply, category: Category, fault: Fault) -> float | None:
        limits = self.settings.rate_limit
        header = seconds_header(reply.headers, limits.retry_after_header)
        if header is not None:
            return header
        reset = header_int(reply.headers, limits.reset_header)
        if reset is not None:
            return max(reset - now_ms() / 1000, 0.0)
        return limits.default_retry_s if reply.status == 429 else None
