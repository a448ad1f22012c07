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

from typing import Any, ClassVar

import httpx

from connectors import oauth
from connectors.base import Page, PageRequest, SyncKind
from connectors.errors import Category, ProviderError
from connectors.headroom import DAY_MS, slow_down_ms
from connectors.http import Call, Fault, HttpConnector, Reply
from connectors.salesforce_api import (
    CATEGORIES,
    CONCURRENT_LIMIT_RETRY_S,
    KEYSET_FIELDS,
    LIMIT_INFO,
    NEXT_RECORDS,
    PROVIDER,
    RECORD_ID,
    SOBJECTS,
    STATUSES,
    SalesforceSettings,
)
from infra.times import iso, parse_ms


def soql_datetime(ms: int) -> str:
    """An unquoted SOQL dateTime literal (second precision unless the value has milliseconds)."""
    return iso(ms) if ms % 1000 else iso(ms, "seconds")


def _without_attributes(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_attributes(v) for k, v in value.items() if k != "attributes"}
    return value


def _first_error(body: Any) -> dict[str, Any]:
    """The first entry of Salesforce's JSON-array error body."""
    return body[0] if isinstance(body, list) and body and isinstance(body[0], dict) else {}


class SalesforceConnector(HttpConnector):
    provider = PROVIDER
    streams: tuple[str, ...] = tuple(SOBJECTS)
    categories = CATEGORIES
    status_categories = STATUSES
    codes_in_200: ClassVar[bool] = False
    missing = "no records in body"
    settings: SalesforceSettings

    def __init__(self, settings: SalesforceSettings, fields: dict[str, list[str]]) -> None:
        super().__init__(settings)
        # Per stream: the SELECT list (what the mapping reads, plus the keyset and delete flag).
        self._fields = {stream: sorted(set(fields.get(stream, [])) | KEYSET_FIELDS)
                        for stream in self.streams}

    def sliceable_kinds(self, stream: str) -> tuple[SyncKind, ...]:
        return ("full_refresh", "incremental", "backfill")  # SOQL bounds SystemModstamp

    # -- OAuth -----------------------------------------------------------------------------
    def grant(self, client_secret: str, refresh_token: str) -> oauth.Grant:
        s = self.settings
        if s.credential_type == "jwt_bearer":
            return oauth.jwt_bearer(s.token_url, client_secret, s.client_id, s.username or "",
                                    s.audience)
        return oauth.refresh_token(s.token_url, s.client_id, client_secret, refresh_token,
                                   format="json")

    def token_lifetime_s(self, answer: dict[str, Any]) -> int:
        return self.settings.session_timeout_s

    # -- pages -----------------------------------------------------------------------------
    async def read_page(
        self, client: httpx.AsyncClient, access_token: str, request: PageRequest
    ) -> Page:
        try:
            return await super().read_page(client, access_token, request)
        except ProviderError as exc:
            if not (request.cursor or {}).get("next") or \
                    "INVALID_QUERY_LOCATOR" not in exc.message:
                raise
        # The locator expired: re-query from the last key seen (one extra call, rare).
        reply = await self.send(client, access_token, self._query(request))
        return self.parse_page(request, reply)

    def page_call(self, request: PageRequest) -> Call:
        cursor = request.cursor or {}
        if cursor.get("next"):
            return self._call(self.settings.base_url.rstrip("/") + cursor["next"])
        return self._query(request)

    def _query(self, request: PageRequest) -> Call:
        cursor = request.cursor or {}
        base = self.settings.base_url.rstrip("/")
        return self._call(f"{base}/services/data/{self.settings.api_version}/queryAll",
                          {"q": self.soql(request, cursor.get("ts"), cursor.get("id"))})

    def _call(self, url: str, params: dict[str, str] | None = None) -> Call:
        return Call("query", url, params=params,
                    headers={"Sforce-Query-Options": f"batchSize={self.settings.batch_size}"})

    def soql(self, request: PageRequest, after_ts: str | None, after_id: str | None) -> str:
        conditions = []
        if request.window_start_ms is not None:
            # Floor/ceil to whole seconds: a superset of the window, never a subset.
            conditions.append(f"SystemModstamp >= {soql_datetime(request.window_start_ms)}")
        end_ms = -(-request.window_end_ms // 1000) * 1000
        conditions.append(f"SystemModstamp < {soql_datetime(end_ms)}")
        if after_ts is not None and after_id is not None:
            if not RECORD_ID.match(after_id):
                raise ProviderError("validation_error", "cursor holds a malformed record id",
                                    PROVIDER, "query")
            ts = soql_datetime(parse_ms(after_ts))
            conditions.append(
                f"(SystemModstamp > {ts} OR (SystemModstamp = {ts} AND Id > '{after_id}'))")
        return (f"SELECT {', '.join(self._fields[request.stream])} "
                f"FROM {SOBJECTS[request.stream]} WHERE {' AND '.join(conditions)} "
                "ORDER BY SystemModstamp, Id")

    def succeeded(self, reply: Reply) -> bool:
        return reply.status == 200 and isinstance(reply.body, dict) and \
            isinstance(reply.body.get("records"), list)

    def parse_page(self, request: PageRequest, reply: Reply) -> Page:
        body, cursor = reply.body, request.cursor or {}
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
            if not NEXT_RECORDS.match(str(next_cursor["next"])):
                # It is appended to base_url: `.evil.example/x`, `:8443/x` or `@host/x` would
                # take the session to another host (connectors.http refuses that too).
                raise ProviderError("validation_error", "nextRecordsUrl is not a path under "
                                    f"/services/data/: {str(next_cursor['next'])!r}", PROVIDER,
                                    "query", 200)
        usage = api_usage(reply.headers)
        if usage is None:
            return Page(records, next_cursor)
        return Page(records, next_cursor, usage["limit"] - usage["used"], self.slow_down(usage),
                    usage)

    def slow_down(self, usage: dict[str, int]) -> int:
        """Near the org's daily allowance, slow to the pace the rolling 24 hours refill it.

        Never longer than `request_limit_retry_s`: by then calls older than a day have freed
        some of the allowance, and an exhausted one answers REQUEST_LIMIT_EXCEEDED, which waits
        that long anyway.
        """
        wait = slow_down_ms(usage["limit"] - usage["used"], usage["limit"], DAY_MS)
        return min(wait, round(self.settings.request_limit_retry_s * 1000))

    # -- errors ----------------------------------------------------------------------------
    def fault(self, reply: Reply) -> Fault:
        first = _first_error(reply.body)
        code = str(first.get("errorCode") or "")
        # INVALID_FIELD messages echo the query; keep the line that names the problem.
        lines = [line for line in str(first.get("message") or "").splitlines() if line.strip()]
        return Fault(code, f"{code}: {lines[-1]}" if code and lines else code,
                     reply.headers.get("X-Request-Id"))

    def retry_after(self, reply: Reply, category: Category, fault: Fault) -> float | None:
        header = super().retry_after(reply, category, fault)
        if category != "rate_limited" or header is not None:
            return header
        daily = "TotalRequests" in str(_first_error(reply.body).get("message"))
        return self.settings.request_limit_retry_s if daily else CONCURRENT_LIMIT_RETRY_S


def api_usage(headers: httpx.Headers) -> dict[str, int] | None:
    """`Sforce-Limit-Info: api-usage=10018/100000`: the org's daily API calls used and allowed."""
    match = LIMIT_INFO.search(headers.get("Sforce-Limit-Info", ""))
    return None if match is None else {"used": int(match[1]), "limit": int(match[2])}
