"""HubSpot CRM objects (contacts, companies, deals) on the connection's `api_version` (2026-03
or the legacy v3 paths, built in hubspot_api.Paths): list endpoint for full refreshes, search
endpoint for incremental windows.

Incremental paging is keyset paging on (last-modified, id), one fresh search per page, so the
search endpoint's 10,000-results cap is never reached however large the window is, and records
sharing one last-modified millisecond are never skipped or looped on (see `_search_page`).
"""

from __future__ import annotations

from typing import Any, ClassVar

import httpx

from connectors import hubspot_api as api
from connectors import oauth
from connectors.base import ArchivedPage, Page, PageRequest, SyncKind
from connectors.errors import Category, ProviderError
from connectors.headroom import DAY_MS, header_int, slow_down_ms
from connectors.http import Call, Fault, HttpConnector, Reply, redacted, seconds_header
from connectors.hubspot_api import PROVIDER, HubSpotSettings
from connectors.redact import oversized, redact_cursor
from infra.times import now_ms, parse_ms


def _seconds_to_utc_midnight() -> float:
    return (DAY_MS - now_ms() % DAY_MS) / 1000


def _modified_ms(record: dict[str, Any], stream: str) -> int:
    """The keyset's timestamp: what the search sorts and filters on."""
    value = record.get("updatedAt")
    if value is None:
        value = (record.get("properties") or {}).get(api.LAST_MODIFIED[stream])
    if not value:
        raise ValueError("record has no updatedAt")
    return parse_ms(value)


class HubSpotConnector(HttpConnector):
    provider = PROVIDER
    streams: tuple[str, ...] = tuple(api.LAST_MODIFIED)
    categories = api.CATEGORIES
    status_categories = api.STATUSES
    missing = "no results"
    default_token_lifetime_s: ClassVar[int] = 1800
    settings: HubSpotSettings

    def __init__(self, settings: HubSpotSettings, properties: dict[str, list[str]]) -> None:
        super().__init__(settings)
        self._properties = properties  # per stream: what the mapping reads

    def mapped_properties(self, stream: str) -> list[str]:
        """The properties the stream's mapping reads (connectors.hubspot_properties checks
        that the portal has them)."""
        return list(self._properties[stream])

    def sliceable_kinds(self, stream: str) -> tuple[SyncKind, ...]:
        return ("incremental", "backfill")  # search filters by time; the list endpoint can't

    def rate_keys(self) -> dict[SyncKind, tuple[str, float]]:
        search = ("search", self.settings.search_requests_per_second)
        return {"incremental": search, "backfill": search}

    def grant(self, client_secret: str, refresh_token: str) -> oauth.Grant:
        # HubSpot does not rotate refresh tokens today, but the base keeps what it returns.
        return oauth.refresh_token(self.settings.token_url, self.settings.client_id,
                                   client_secret, refresh_token)

    # -- pages -----------------------------------------------------------------------------
    def page_call(self, request: PageRequest) -> Call:
        paths = self.settings.paths
        url = f"{self.settings.base_url}{paths.objects(request.stream)}"
        properties = self._properties[request.stream]
        if request.kind == "full_refresh":
            params: dict[str, Any] = {"limit": self.settings.list_page_size,
                                      "properties": ",".join(properties), "archived": "false"}
            if request.cursor:
                params["after"] = request.cursor["after"]
            return Call("list", url, params=params)
        prop = api.LAST_MODIFIED[request.stream]
        cursor = _search_cursor(request)
        if cursor["mode"] == "ties":
            filters = [
                {"propertyName": prop, "operator": "EQ", "value": str(cursor["ts"])},
                {"propertyName": "hs_object_id", "operator": "GT", "value": str(cursor["id"])},
            ]
            sort = "hs_object_id"
        else:
            filters = [{"propertyName": prop, "operator": "LT",
                        "value": str(request.window_end_ms)}]
            if cursor["ts"] is not None:
                filters.insert(
                    0, {"propertyName": prop, "operator": cursor["op"], "value": str(cursor["ts"])}
                )
            sort = prop
        payload = {
            "filterGroups": [{"filters": filters}],
            "sorts": [{"propertyName": sort, "direction": "ASCENDING"}],
            "properties": properties,
            "limit": self.settings.search_page_size,
        }
        return Call("search", f"{self.settings.base_url}{paths.search(request.stream)}", "POST",
                    json=payload)

    def parse_page(self, request: PageRequest, reply: Reply) -> Page:
        records: list[dict[str, Any]] = reply.body["results"]
        if request.kind == "full_refresh":
            after = ((reply.body.get("paging") or {}).get("next") or {}).get("after")
            if after is not None and request.cursor and \
                    str(after) == str(request.cursor["after"]):
                raise ProviderError("server_error", f"paging cursor repeated ({after})",
                                    PROVIDER, "list")
            return _page(records, {"after": str(after)} if after else None, reply.headers)
        return _page(*_search_page(request, records, self.settings.search_page_size),
                     reply.headers)

    # -- archived records (deletes passes) ------------------------------------------------
    def deletes_every_s(self, stream: str) -> int | None:
        return self.settings.deletes_every_s

    async def fetch_archived(
        self, client: httpx.AsyncClient, access_token: str, stream: str,
        cursor: dict[str, Any] | None,
    ) -> ArchivedPage:
        """A page of the stream's archived records, in id order: the list endpoint with
        `archived=true` (search never returns them). Only ids and archive instants are read."""
        if stream not in self.streams:
            raise ProviderError("validation_error", f"unknown stream {stream!r}", PROVIDER,
                                "list_archived")
        params: dict[str, Any] = {"limit": self.settings.list_page_size, "archived": "true",
                                  "properties": "hs_object_id"}
        if cursor:
            params["after"] = cursor["after"]
        url = f"{self.settings.base_url}{self.settings.paths.objects(stream)}"
        call = Call("list_archived", url, params=params)
        try:
            reply = await self.send(client, access_token, call)
            page = _archived_page(reply, cursor)
        except ProviderError as exc:
            raise redacted(exc, (access_token,)) from None
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ProviderError("server_error", f"malformed response: {type(exc).__name__}",
                                PROVIDER, "list_archived") from None
        page.next_cursor = redact_cursor(page.next_cursor, (access_token,))
        length = oversized(page.next_cursor)
        if length is not None:
            raise ProviderError("validation_error", f"the next cursor holds a value of {length} "
                                "characters, too long to store", PROVIDER, "list_archived")
        return page

    def succeeded(self, reply: Reply) -> bool:
        body = reply.body
        # 207: a batch read with per-input errors (connectors.hubspot_associations).
        if reply.status in (200, 207) and isinstance(body, dict) and "results" in body:
            if not isinstance(body["results"], list):
                raise ProviderError("server_error", "malformed response: results is not a list",
                                    PROVIDER, "fetch", 200)
            return True
        return False

    # -- errors ----------------------------------------------------------------------------
    def fault(self, reply: Reply) -> Fault:
        info = reply.body if isinstance(reply.body, dict) else {}
        return Fault(str(info.get("category") or info.get("errorType") or ""),
                     str(info.get("message") or ""),  # cut after redaction (http.redacted)
                     info.get("correlationId") or reply.headers.get("X-HubSpot-Correlation-Id"))

    def retry_after(self, reply: Reply, category: Category, fault: Fault) -> float | None:
        header = seconds_header(reply.headers, "Retry-After")
        if header is not None:
            return header
        info = reply.body if isinstance(reply.body, dict) else {}
        if reply.status != 429 and info.get("errorType") != "RATE_LIMIT":
            return api.LOCKED_RETRY_S if reply.status == 423 else None
        if info.get("policyName") == "DAILY":
            return _seconds_to_utc_midnight()
        if "secondly limit" in str(info.get("message", "")):
            return 1.0
        interval_ms = header_int(reply.headers, "X-HubSpot-RateLimit-Interval-Milliseconds")
        return interval_ms / 1000 if interval_ms is not None else api.DEFAULT_INTERVAL_S


def _search_cursor(request: PageRequest) -> dict[str, Any]:
    return request.cursor or {"mode": "range", "op": "GTE", "ts": request.window_start_ms}


def _search_page(
    request: PageRequest, records: list[dict[str, Any]], limit: int
) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """One keyset page of the window [start, end) ordered by last-modified.

    Cursor modes:
    - range (op GTE/GT, ts): records of the window from ts on, sorted by last-modified. A
      full page ending at T yields only the records before T (complete, whatever the
      order within a millisecond) and the next page starts at GTE T.
    - ties (ts, id): a full page that is all one millisecond T: walk that millisecond by
      id (an explicit sort on id), then continue with GT T.
    """
    cursor = _search_cursor(request)
    if len(records) < limit:
        if cursor["mode"] == "ties":  # that millisecond is done; the rest of the window
            return records, {"mode": "range", "op": "GT", "ts": cursor["ts"]}
        return records, None
    if cursor["mode"] == "ties":
        return records, {"mode": "ties", "ts": cursor["ts"], "id": records[-1]["id"]}
    last = _modified_ms(records[-1], request.stream)
    if _modified_ms(records[0], request.stream) == last:
        return records, {"mode": "ties", "ts": last, "id": "0"}
    return [r for r in records if _modified_ms(r, request.stream) < last], \
        {"mode": "range", "op": "GTE", "ts": last}


# An id longer than the destination's external_id column matches no row.
MAX_ID_CHARS = 200


def _archived_page(reply: Reply, cursor: dict[str, Any] | None) -> ArchivedPage:
    """Each archived record's id and instant (`archivedAt`, else `updatedAt`); a record that
    says it is not archived, or has no usable id or instant, is skipped (one bad record must
    not stop the pass, and without both nothing can be compared)."""
    archived = []
    for record in reply.body["results"]:
        record_id = record.get("id")
        if record.get("archived") is not True or not isinstance(record_id, str | int) \
                or len(str(record_id)) > MAX_ID_CHARS:
            continue
        try:
            at = parse_ms(record.get("archivedAt") or record.get("updatedAt"))
        except (TypeError, ValueError, OverflowError):
            continue  # no instant to compare with the row's version: left as it is
        # The archive becomes the row's version: one from the future would freeze the row.
        if not 0 <= at <= now_ms() + DAY_MS:
            continue
        archived.append((str(record_id), at))
    after = ((reply.body.get("paging") or {}).get("next") or {}).get("after")
    if after is not None and cursor and str(after) == str(cursor["after"]):
        raise ProviderError("server_error", f"paging cursor repeated ({after})", PROVIDER,
                            "list_archived")
    return ArchivedPage(archived, {"after": str(after)} if after else None,
                        slow_down(reply.headers))


def _page(records: list[dict[str, Any]], cursor: dict[str, Any] | None,
          headers: httpx.Headers) -> Page:
    """A page with the headroom its response reported (see `slow_down`)."""
    return Page(records, cursor, header_int(headers, "X-HubSpot-RateLimit-Remaining"),
                slow_down(headers))


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
        interval_ms or api.DEFAULT_INTERVAL_S * 1000,
    )
    daily = slow_down_ms(
        header_int(headers, "X-HubSpot-RateLimit-Daily-Remaining"),
        header_int(headers, "X-HubSpot-RateLimit-Daily"),
        _seconds_to_utc_midnight() * 1000, rolling=False,
    )
    return max(burst, daily)
