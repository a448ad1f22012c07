"""Salesforce REST: SOQL through queryAll, keyset on (SystemModstamp, Id), soft deletes.

- Every window is one SOQL query `... WHERE SystemModstamp >= start AND SystemModstamp < end
  ORDER BY SystemModstamp, Id` through `queryAll`, so deleted records come back with
  `IsDeleted = true` and land as soft deletes (`archived`). Batches follow `nextRecordsUrl`.
- The cursor also remembers the last (SystemModstamp, Id) seen. When a query locator has expired
  (INVALID_QUERY_LOCATOR, e.g. after a long pause) the next batch is re-queried from that key with
  `(SystemModstamp > ts OR (SystemModstamp = ts AND Id > id))`: records sharing one timestamp
  across batches are neither skipped nor repeated.
- Token responses carry no `expires_in`: a session lives for the connection's configured
  `session_timeout_s`, and a 401 INVALID_SESSION_ID ends it early (the workflow refreshes once).
  With refresh-token rotation on, the new refresh token is returned with the grant and the vault
  stores both in one compare-and-set.
"""

from __future__ import annotations

import base64
import json
import re
import time
from datetime import UTC, datetime
from typing import Any, Literal

import httpx
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from pydantic import Field, model_validator

from connectors.base import (
    Page,
    PageRequest,
    SyncKind,
    SyncSettings,
    TokenGrant,
    json_or_none,
)
from connectors.errors import Category, ProviderError, transport_error
from connectors.headroom import DAY_MS, slow_down_ms
from connectors.mapping import Mapping

PROVIDER = "salesforce"
SOBJECTS = {"contacts": "Contact", "companies": "Account", "deals": "Opportunity"}
JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
_FIELD_PATH = re.compile(r"^[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z][A-Za-z0-9_]*)*$")
_ID = re.compile(r"^[A-Za-z0-9]{15,18}$")
_LIMIT_INFO = re.compile(r"api-usage=(\d+)/(\d+)")
_CATEGORIES: dict[str, Category] = {
    "INVALID_SESSION_ID": "auth_failure",
    "INSUFFICIENT_ACCESS": "auth_failure",
    "API_DISABLED_FOR_ORG": "auth_failure",
    "REQUEST_LIMIT_EXCEEDED": "rate_limited",
    "MALFORMED_QUERY": "validation_error",
    "INVALID_FIELD": "validation_error",
    "INVALID_TYPE": "validation_error",
    "INVALID_QUERY_LOCATOR": "validation_error",
    "QUERY_TIMEOUT": "timeout",
    "UNABLE_TO_LOCK_ROW": "conflict",
    "SERVER_UNAVAILABLE": "server_error",
    "UNKNOWN_EXCEPTION": "server_error",
}


class SalesforceSettings(SyncSettings):
    """A Salesforce connection's non-secret settings.

    Secrets: with `credential_type = "refresh_token"` the vault holds the connected app's client
    secret and the refresh token; with `"jwt_bearer"` its client secret field holds the PEM
    private key whose certificate is uploaded to the connected app (no refresh token).
    """

    base_url: str = Field(min_length=1, description="the org's instance URL")
    token_url: str = "https://login.salesforce.com/services/oauth2/token"
    client_id: str = Field(min_length=1)
    api_version: str = Field("v62.0", pattern=r"^v\d{2,3}\.0$")  # the one place it is pinned
    credential_type: Literal["refresh_token", "jwt_bearer"] = "refresh_token"
    username: str | None = None  # the JWT subject
    audience: str = "https://login.salesforce.com"
    # The org's session timeout (Setup > Session Settings): how long an access token lives.
    session_timeout_s: int = Field(7200, ge=1)
    batch_size: int = Field(2000, ge=200, le=2000)
    # TotalRequests is a rolling 24-hour allowance: wait this long before asking again.
    request_limit_retry_s: float = Field(900.0, ge=1)

    @model_validator(mode="after")
    def _consistent(self) -> SalesforceSettings:
        if self.credential_type == "jwt_bearer" and not self.username:
            raise ValueError("the jwt_bearer credential type needs `username` (the JWT subject)")
        if self.refresh_margin_s >= self.session_timeout_s:
            raise ValueError("refresh_margin_s must be shorter than session_timeout_s")
        return self


class SalesforceMapping(Mapping):
    """A mapping whose source paths are SOQL field paths (they become the SELECT list)."""

    @model_validator(mode="after")
    def _soql_fields(self) -> SalesforceMapping:
        bad = [p for p in self.source_paths() if not _FIELD_PATH.match(p)]
        if bad:
            raise ValueError(f"not SOQL field names: {bad}")
        return self


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def jwt_assertion(private_key_pem: str, client_id: str, username: str, audience: str) -> str:
    """An RS256 JWT as the JWT bearer flow wants it (iss, sub, aud, exp within 3 minutes)."""
    try:
        key = serialization.load_pem_private_key(private_key_pem.encode(), password=None)
    except (ValueError, TypeError):
        raise ProviderError("auth_failure", "the stored private key is not a PEM key",
                            PROVIDER, "refresh_token") from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ProviderError("auth_failure", "the stored private key is not an RSA key",
                            PROVIDER, "refresh_token")
    header = _b64url(json.dumps({"alg": "RS256", "typ": "JWT"}).encode())
    claims = {"iss": client_id, "sub": username, "aud": audience, "exp": int(time.time()) + 180}
    signing_input = f"{header}.{_b64url(json.dumps(claims).encode())}"
    signature = key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    return f"{signing_input}.{_b64url(signature)}"


def parse_ms(value: str) -> int:
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return round(parsed.timestamp() * 1000)


def soql_datetime(ms: int) -> str:
    """An unquoted SOQL dateTime literal (second precision unless the value has milliseconds)."""
    value = datetime.fromtimestamp(ms / 1000, UTC)
    text = value.strftime("%Y-%m-%dT%H:%M:%S")
    return text + (f".{ms % 1000:03d}Z" if ms % 1000 else "Z")


def _without_attributes(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_attributes(v) for k, v in value.items() if k != "attributes"}
    return value


class SalesforceConnector:
    provider = PROVIDER
    streams = tuple(SOBJECTS)

    def __init__(self, settings: SalesforceSettings, fields: dict[str, list[str]]) -> None:
        self.settings = settings
        # Per stream: the SELECT list (what the mapping reads, plus the keyset and delete flag).
        self._fields = {
            stream: sorted(set(fields.get(stream, [])) | {"Id", "SystemModstamp", "IsDeleted"})
            for stream in self.streams
        }

    # -- record identity -------------------------------------------------------------------
    def sliceable_kinds(self, stream: str) -> tuple[SyncKind, ...]:
        return ("full_refresh", "incremental", "backfill")  # SOQL bounds SystemModstamp

    def rate_keys(self) -> dict[SyncKind, tuple[str, float]]:
        return {}

    def record_id(self, raw: dict[str, Any]) -> str:
        return str(raw["Id"])

    def record_updated_ms(self, raw: dict[str, Any]) -> int:
        return parse_ms(str(raw["SystemModstamp"]))

    # -- OAuth -----------------------------------------------------------------------------
    def refresh(self, client_secret: str, refresh_token: str) -> TokenGrant:
        s = self.settings
        if s.credential_type == "jwt_bearer":
            form = {"grant_type": JWT_GRANT, "assertion": jwt_assertion(
                client_secret, s.client_id, s.username or "", s.audience)}
        else:
            form = {"grant_type": "refresh_token", "refresh_token": refresh_token,
                    "client_id": s.client_id, "client_secret": client_secret, "format": "json"}
        try:
            response = httpx.post(s.token_url, data=form, timeout=s.timeout_s)
        except httpx.HTTPError as exc:
            raise transport_error(exc, PROVIDER, "refresh_token", s.timeout_s) from None
        body = json_or_none(response)
        info = body if isinstance(body, dict) else {}
        if response.status_code == 200 and info.get("access_token"):
            return TokenGrant(
                access_token=info["access_token"],
                # Rotation returns a new refresh token (the old one stops working); without it
                # the response has none and the current one stays valid. JWT has none at all.
                refresh_token=info.get("refresh_token") or refresh_token,
                expires_in_s=s.session_timeout_s,
            )
        if response.status_code in (400, 401, 403):
            reason = f"{info.get('error', 'refused')}: {info.get('error_description', '')}"
            raise ProviderError("auth_failure", f"token refresh refused: {reason.strip()}",
                                PROVIDER, "refresh_token", response.status_code)
        raise _error(response, body, "refresh_token", s)

    # -- pages -----------------------------------------------------------------------------
    async def fetch_page(
        self, client: httpx.AsyncClient, access_token: str, request: PageRequest
    ) -> Page:
        if request.stream not in self.streams:
            raise ProviderError("validation_error", f"unknown stream {request.stream!r}",
                                PROVIDER, "fetch")
        cursor = request.cursor or {}
        base = self.settings.base_url.rstrip("/")
        if cursor.get("next"):
            try:
                return await self._batch(client, access_token, request, base + cursor["next"],
                                         None, cursor)
            except ProviderError as exc:
                if "INVALID_QUERY_LOCATOR" not in exc.message:
                    raise
                # The locator expired: re-query from the last key seen (one extra call, rare).
        params = {"q": self.soql(request, cursor.get("ts"), cursor.get("id"))}
        url = f"{base}/services/data/{self.settings.api_version}/queryAll"
        return await self._batch(client, access_token, request, url, params, cursor)

    def soql(self, request: PageRequest, after_ts: str | None, after_id: str | None) -> str:
        conditions = []
        if request.window_start_ms is not None:
            # Floor/ceil to whole seconds: a superset of the window, never a subset.
            conditions.append(f"SystemModstamp >= {soql_datetime(request.window_start_ms)}")
        end_ms = -(-request.window_end_ms // 1000) * 1000
        conditions.append(f"SystemModstamp < {soql_datetime(end_ms)}")
        if after_ts is not None and after_id is not None:
            if not _ID.match(after_id):
                raise ProviderError("validation_error", "cursor holds a malformed record id",
                                    PROVIDER, "query")
            ts = soql_datetime(parse_ms(after_ts))
            conditions.append(
                f"(SystemModstamp > {ts} OR (SystemModstamp = {ts} AND Id > '{after_id}'))")
        return (f"SELECT {', '.join(self._fields[request.stream])} "
                f"FROM {SOBJECTS[request.stream]} WHERE {' AND '.join(conditions)} "
                "ORDER BY SystemModstamp, Id")

    async def _batch(
        self, client: httpx.AsyncClient, token: str, request: PageRequest, url: str,
        params: dict[str, str] | None, cursor: dict[str, Any],
    ) -> Page:
        headers = {"Authorization": f"Bearer {token}",
                   "Sforce-Query-Options": f"batchSize={self.settings.batch_size}"}
        try:
            response = await client.get(url, params=params, headers=headers,
                                        timeout=self.settings.timeout_s)
        except httpx.HTTPError as exc:
            raise transport_error(exc, PROVIDER, "query", self.settings.timeout_s) from None
        body = json_or_none(response)
        if not (response.status_code == 200 and isinstance(body, dict)
                and isinstance(body.get("records"), list)):
            raise _error(response, body, "query", self.settings)
        records = [_without_attributes(r) for r in body["records"]]
        next_cursor = None
        if not body.get("done", True):
            last = records[-1] if records else {"SystemModstamp": cursor.get("ts"),
                                                "Id": cursor.get("id")}
            next_cursor = {"next": body.get("nextRecordsUrl"), "ts": last["SystemModstamp"],
                           "id": last["Id"]}
            if not next_cursor["next"]:
                raise ProviderError("server_error", "done is false but no nextRecordsUrl",
                                    PROVIDER, "query", 200)
        usage = _api_usage(response)
        page = Page(records, next_cursor)
        if usage is not None:
            page.rate_remaining = usage["limit"] - usage["used"]
            page.extra["api_usage"] = usage
            page.extra["slow_down_ms"] = self.slow_down(usage)
        return page

    def slow_down(self, usage: dict[str, int]) -> int:
        """Near the org's daily allowance, slow to the pace the rolling 24 hours refill it.

        Never longer than `request_limit_retry_s`: by then calls older than a day have freed
        some of the allowance, and an exhausted one answers REQUEST_LIMIT_EXCEEDED, which waits
        that long anyway.
        """
        wait = slow_down_ms(usage["limit"] - usage["used"], usage["limit"], DAY_MS)
        return min(wait, round(self.settings.request_limit_retry_s * 1000))


def _api_usage(response: httpx.Response) -> dict[str, int] | None:
    """`Sforce-Limit-Info: api-usage=10018/100000`: the org's daily API calls used and allowed."""
    match = _LIMIT_INFO.search(response.headers.get("Sforce-Limit-Info", ""))
    return None if match is None else {"used": int(match[1]), "limit": int(match[2])}



def _error(
    response: httpx.Response, body: Any, operation: str, settings: SalesforceSettings
) -> ProviderError:
    """The JSON-array error body (or anything else that is not a result) to the envelope."""
    status = response.status_code
    first = body[0] if isinstance(body, list) and body and isinstance(body[0], dict) else {}
    code = str(first.get("errorCode") or "")
    # INVALID_FIELD messages echo the query; keep the line that names the problem.
    lines = [line for line in str(first.get("message") or "").splitlines() if line.strip()]
    message = f"{code}: {lines[-1][:300]}" if code and lines else code
    if status == 200:
        reason = message or ("body is not JSON" if body is None else "no records in body")
        return ProviderError("server_error", f"malformed response: {reason}", PROVIDER,
                             operation, status)
    category = _CATEGORIES.get(code)
    retry_after = _retry_after(response)
    if category == "rate_limited":
        if retry_after is None:
            daily = "TotalRequests" in str(first.get("message"))
            retry_after = settings.request_limit_retry_s if daily else 30.0
    elif status == 401:
        category = "auth_failure"
    elif status in (408, 504):
        category = "timeout"
    elif status >= 500:
        category = "server_error"
    elif category is None:
        category = "validation_error" if 400 <= status < 500 else "server_error"
    return ProviderError(category, message or f"HTTP {status}", PROVIDER, operation, status,
                         response.headers.get("X-Request-Id"), retry_after)


def _retry_after(response: httpx.Response) -> float | None:
    try:
        return max(float(response.headers["Retry-After"]), 0.0)
    except (KeyError, ValueError):
        return None
