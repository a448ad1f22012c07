"""HubSpot CRM v3: list endpoint for full refreshes, search endpoint for incremental windows.

Incremental paging is keyset paging on (last-modified, id), one fresh search per page, so the
search endpoint's 10,000-results cap is never reached however large the window is, and records
sharing one last-modified millisecond are never skipped or looped on (see `_search_page`).
"""

from __future__ import annotations

import warnings
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from authlib.integrations.base_client.errors import OAuthError
from pydantic import Field

from connectors.base import (
    Page,
    PageRequest,
    SyncKind,
    SyncSettings,
    TokenGrant,
    json_or_none,
)
from connectors.errors import Category, ProviderError, transport_error
from connectors.headroom import PACE_SHARE, header_int, slow_down_ms

with warnings.catch_warnings():
    # authlib prefers the httpx2 fork but supports httpx, which the rest of Tributary uses.
    warnings.filterwarnings("ignore", message="The httpx module is deprecated")
    from authlib.integrations.httpx_client import OAuth2Client

API_VERSION = "v3"  # the one place the CRM API version is pinned
PROVIDER = "hubspot"
LAST_MODIFIED = {"contacts": "lastmodifieddate", "companies": "hs_lastmodifieddate",
                 "deals": "hs_lastmodifieddate"}
DEFAULT_INTERVAL_S = 10.0  # the documented ten-second rolling window
_CATEGORIES: dict[str, Category] = {
    "EXPIRED_AUTHENTICATION": "auth_failure",
    "INVALID_AUTHENTICATION": "auth_failure",
    "MISSING_SCOPES": "auth_failure",
    "RATE_LIMIT": "rate_limited",
    "RATE_LIMITS": "rate_limited",
    "VALIDATION_ERROR": "validation_error",
    "OBJECT_NOT_FOUND": "validation_error",
    "CONFLICT": "conflict",
    "OBJECT_ALREADY_EXISTS": "conflict",
}


class HubSpotSettings(SyncSettings):
    """A HubSpot connection's non-secret settings (defaults point at the real HubSpot)."""

    base_url: str = "https://api.hubapi.com"
    token_url: str = "https://api.hubapi.com/oauth/v1/token"
    client_id: str = Field(min_length=1)
    list_page_size: int = Field(100, ge=1, le=100)
    search_page_size: int = Field(200, ge=1, le=200)
    # HubSpot's documented private-app burst limit is 100 requests per 10 seconds.
    requests_per_second: float | None = Field(10.0 * PACE_SHARE, gt=0, le=10_000)
    # Search has its own limit (5 per second per account, outside the ten-second one): a
    # little under it, since the Temporal server lets an idle key burst for one second.
    search_requests_per_second: float = Field(4.0, gt=0, le=10_000)


def _parse_ms(value: str | None) -> int | None:
    if not value:
        return None
    if value.isdigit():
        return int(value)
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return round(parsed.timestamp() * 1000)


def _seconds_to_utc_midnight() -> float:
    now = datetime.now(UTC)
    midnight = (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return (midnight - now).total_seconds()


class HubSpotConnector:
    provider = PROVIDER
    streams = ("contacts",)

    def __init__(self, settings: HubSpotSettings, properties: dict[str, list[str]]) -> None:
        self.settings = settings
        self._properties = properties  # per stream: what the mapping reads

    # -- record identity -------------------------------------------------------------------
    def sliceable_kinds(self, stream: str) -> tuple[SyncKind, ...]:
        return ("incremental", "backfill")  # search filters by time; the list endpoint can't

    def rate_keys(self) -> dict[SyncKind, tuple[str, float]]:
        search = ("search", self.settings.search_requests_per_second)
        return {"incremental": search, "backfill": search}

    def record_id(self, raw: dict[str, Any]) -> str:
        return str(raw["id"])

    def record_updated_ms(self, raw: dict[str, Any]) -> int:
        value = raw.get("updatedAt")
        if value is None:
            value = (raw.get("properties") or {}).get("lastmodifieddate")
        ms = _parse_ms(value)
        if ms is None:
            raise ValueError("record has no updatedAt")
        return ms

    # -- OAuth -----------------------------------------------------------------------------
    def refresh(self, client_secret: str, refresh_token: str) -> TokenGrant:
        oauth = OAuth2Client(
            client_id=self.settings.client_id,
            client_secret=client_secret,
            token_endpoint_auth_method="client_secret_post",
            timeout=self.settings.timeout_s,
        )
        try:
            with oauth:
                token = oauth.refresh_token(self.settings.token_url, refresh_token=refresh_token)
        except OAuthError as exc:
            # invalid_grant / BAD_REFRESH_TOKEN: only a person can re-authorize the connection.
            raise ProviderError("auth_failure", f"token refresh refused: {exc.error}: "
                                f"{exc.description or ''}".strip(), PROVIDER, "refresh_token",
                                400) from None
        except httpx.HTTPError as exc:
            raise transport_error(exc, PROVIDER, "refresh_token", self.settings.timeout_s) from None
        except ValueError:
            raise ProviderError("server_error", "token endpoint returned malformed JSON",
                                PROVIDER, "refresh_token") from None
        if "access_token" not in token:
            # HubSpot answers some client errors without an OAuth `error` field.
            status = token.get("status", "no access_token in response")
            raise ProviderError("auth_failure", f"token refresh refused: {status}", PROVIDER,
                                "refresh_token", 400)
        return TokenGrant(
            access_token=token["access_token"],
            # HubSpot does not rotate refresh tokens today, but always keep what it returns.
            refresh_token=token.get("refresh_token") or refresh_token,
            expires_in_s=int(token.get("expires_in", 1800)),
        )

    # -- pages -----------------------------------------------------------------------------
    async def fetch_page(
        self, client: httpx.AsyncClient, access_token: str, request: PageRequest
    ) -> Page:
        if request.stream not in self.streams:
            raise ProviderError("validation_error", f"unknown stream {request.stream!r}",
                                PROVIDER, "fetch")
        try:
            if request.kind == "full_refresh":
                return await self._list_page(client, access_token, request)
            return await self._search_page(client, access_token, request)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            # A 200 whose records lack the fields every HubSpot object has: the provider's
            # fault, retried like any server error rather than crashing the activity.
            raise ProviderError("server_error", f"malformed response: {type(exc).__name__}",
                                PROVIDER, request.kind) from None

    async def _list_page(
        self, client: httpx.AsyncClient, token: str, request: PageRequest
    ) -> Page:
        params: dict[str, Any] = {
            "limit": self.settings.list_page_size,
            "properties": ",".join(self._properties[request.stream]),
            "archived": "false",
        }
        if request.cursor:
            params["after"] = request.cursor["after"]
        url = f"{self.settings.base_url}/crm/{API_VERSION}/objects/{request.stream}"
        body, limits = await self._call(client, token, "list", "GET", url, params=params)
        after = ((body.get("paging") or {}).get("next") or {}).get("after")
        if after is not None and request.cursor and str(after) == str(request.cursor["after"]):
            raise ProviderError("server_error", f"paging cursor repeated ({after})", PROVIDER,
                                "list")
        return _page(body["results"], {"after": str(after)} if after else None, limits)

    async def _search_page(
        self, client: httpx.AsyncClient, token: str, request: PageRequest
    ) -> Page:
        """One keyset page of the window [start, end) ordered by last-modified.

        Cursor modes:
        - range (op GTE/GT, ts): records of the window from ts on, sorted by last-modified. A
          full page ending at T yields only the records before T (complete, whatever the
          order within a millisecond) and the next page starts at GTE T.
        - ties (ts, id): a full page that is all one millisecond T: walk that millisecond by
          id (an explicit sort on id), then continue with GT T.
        """
        prop = LAST_MODIFIED[request.stream]
        limit = self.settings.search_page_size
        cursor = request.cursor or {"mode": "range", "op": "GTE", "ts": request.window_start_ms}
        end = {"propertyName": prop, "operator": "LT", "value": str(request.window_end_ms)}
        if cursor["mode"] == "ties":
            filters = [
                {"propertyName": prop, "operator": "EQ", "value": str(cursor["ts"])},
                {"propertyName": "hs_object_id", "operator": "GT", "value": str(cursor["id"])},
            ]
            sort = "hs_object_id"
        else:
            filters = [end]
            if cursor["ts"] is not None:
                filters.insert(
                    0, {"propertyName": prop, "operator": cursor["op"], "value": str(cursor["ts"])}
                )
            sort = prop
        payload = {
            "filterGroups": [{"filters": filters}],
            "sorts": [{"propertyName": sort, "direction": "ASCENDING"}],
            "properties": self._properties[request.stream],
            "limit": limit,
        }
        url = f"{self.settings.base_url}/crm/{API_VERSION}/objects/{request.stream}/search"
        body, limits = await self._call(client, token, "search", "POST", url, json=payload)
        records = body["results"]
        if len(records) < limit:
            if cursor["mode"] == "ties":  # that millisecond is done; the rest of the window
                return _page(records, {"mode": "range", "op": "GT", "ts": cursor["ts"]}, limits)
            return _page(records, None, limits)
        if cursor["mode"] == "ties":
            return _page(records, {"mode": "ties", "ts": cursor["ts"], "id": records[-1]["id"]},
                         limits)
        last = self.record_updated_ms(records[-1])
        if self.record_updated_ms(records[0]) == last:
            return _page(records, {"mode": "ties", "ts": last, "id": "0"}, limits)
        complete = [r for r in records if self.record_updated_ms(r) < last]
        return _page(complete, {"mode": "range", "op": "GTE", "ts": last}, limits)

    async def _call(
        self, client: httpx.AsyncClient, token: str, operation: str, method: str, url: str,
        **kwargs: Any,
    ) -> tuple[dict[str, Any], httpx.Headers]:
        try:
            response = await client.request(
                method, url, headers={"Authorization": f"Bearer {token}"},
                timeout=self.settings.timeout_s, **kwargs,
            )
        except httpx.HTTPError as exc:
            raise transport_error(exc, PROVIDER, operation, self.settings.timeout_s) from None
        body = json_or_none(response)
        if response.status_code == 200 and isinstance(body, dict) and "results" in body:
            if not isinstance(body["results"], list):
                raise ProviderError("server_error", "malformed response: results is not a list",
                                    PROVIDER, operation, 200)
            return body, response.headers
        raise _error(response, body, operation)


def _page(records: list[dict[str, Any]], cursor: dict[str, Any] | None,
          headers: httpx.Headers) -> Page:
    """A page with the headroom its response reported (see `slow_down`)."""
    page = Page(records, cursor, header_int(headers, "X-HubSpot-RateLimit-Remaining"))
    page.extra["slow_down_ms"] = slow_down(headers)
    return page


def slow_down(headers: httpx.Headers) -> int:
    """The wait before this stream's next request, from the burst and the daily headroom.

    The burst window is rolling (`-Interval-Milliseconds`, 10 s); the daily budget of private apps
    resets at midnight UTC. Search responses carry neither burst header (search has its own
    per-second limit), and OAuth apps have no daily one: what is absent counts as plenty.
    """
    interval_ms = header_int(headers, "X-HubSpot-RateLimit-Interval-Milliseconds")
    burst = slow_down_ms(
        header_int(headers, "X-HubSpot-RateLimit-Remaining"),
        header_int(headers, "X-HubSpot-RateLimit-Max"),
        interval_ms or DEFAULT_INTERVAL_S * 1000,
    )
    daily = slow_down_ms(
        header_int(headers, "X-HubSpot-RateLimit-Daily-Remaining"),
        header_int(headers, "X-HubSpot-RateLimit-Daily"),
        _seconds_to_utc_midnight() * 1000, rolling=False,
    )
    return max(burst, daily)



def _error(response: httpx.Response, body: Any, operation: str) -> ProviderError:
    """Translate any non-success answer, including a 200 that carries an error, to the envelope."""
    status = response.status_code
    info = body if isinstance(body, dict) else {}
    request_id = info.get("correlationId") or response.headers.get("X-HubSpot-Correlation-Id")
    message = str(info.get("message") or "")[:500]
    if status == 200:
        if body is None:
            return ProviderError("server_error", "malformed response: body is not JSON",
                                 PROVIDER, operation, status)
        if not info.get("category") and not info.get("errorType"):
            return ProviderError("server_error", "malformed response: no results", PROVIDER,
                                 operation, status, request_id)
    category = _CATEGORIES.get(str(info.get("category") or info.get("errorType") or ""))
    retry_after = _retry_after(response, info)
    if status == 429 or category == "rate_limited":
        return ProviderError("rate_limited", message or "rate limited", PROVIDER, operation,
                             status, request_id, retry_after)
    if status in (401, 403):
        category = "auth_failure"
    elif status in (408, 504):
        category = "timeout"
    elif status in (409, 423):
        category = "conflict"
        retry_after = retry_after or (2.0 if status == 423 else None)
    elif status >= 500 or status == 477:
        category = "server_error"
    elif category is None:
        category = "validation_error" if 400 <= status < 500 else "server_error"
    return ProviderError(category, message or f"HTTP {status}", PROVIDER, operation, status,
                         request_id, retry_after)


def _retry_after(response: httpx.Response, info: dict[str, Any]) -> float | None:
    header = response.headers.get("Retry-After")
    if header:
        try:
            return max(float(header), 0.0)
        except ValueError:
            pass
    if response.status_code != 429 and info.get("errorType") != "RATE_LIMIT":
        return None
    if info.get("policyName") == "DAILY":
        return _seconds_to_utc_midnight()
    if "secondly limit" in str(info.get("message", "")):
        return 1.0
    interval_ms = header_int(response.headers, "X-HubSpot-RateLimit-Interval-Milliseconds")
    return interval_ms / 1000 if interval_ms is not None else DEFAULT_INTERVAL_S
