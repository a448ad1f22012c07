"""How a declarative REST stream walks its pages, one class per pagination style.

Every paginator turns (the cursor it returned last time) into the next request, and (a response)
into the next cursor or None when done. A cursor carries short fingerprints of the tokens and
pages already seen, so an API that hands back a cursor it gave before, or the same page again,
is reported as an error instead of being followed forever.
"""

from __future__ import annotations

import hashlib
from typing import Annotated, Any, Literal

import httpx
import orjson
from pydantic import BaseModel, ConfigDict, Field

SEEN_KEPT = 50  # loops longer than this many pages are not detected (and are not seen in practice)


class LoopDetected(Exception):
    """The API answered with a cursor, link or page that was already followed."""


def dig(value: Any, path: str) -> Any:
    """The value at a dotted path ("paging.next.after"); "" is the value itself."""
    for part in filter(None, path.split(".")):
        if isinstance(value, list) and part.isdigit():
            value = value[int(part)] if int(part) < len(value) else None
        elif isinstance(value, dict):
            value = value.get(part)
        else:
            return None
    return value


def _fingerprint(value: Any) -> str:
    encoded = orjson.dumps(value, option=orjson.OPT_SORT_KEYS, default=str)
    return hashlib.sha256(encoded).hexdigest()[:16]


class _Paginator(BaseModel):
    model_config = ConfigDict(extra="forbid")

    def request(self, cursor: dict[str, Any] | None) -> tuple[str | None, dict[str, Any]]:
        """(absolute URL replacing the stream's, or None; query parameters) of the next page."""
        return None, {}

    def token(
        self, response: httpx.Response, body: Any, records: list[Any], cursor: dict[str, Any]
    ) -> Any:
        """What identifies the next page, or None on the last page."""
        raise NotImplementedError

    def next_cursor(
        self, cursor: dict[str, Any] | None, response: httpx.Response, body: Any,
        records: list[Any],
    ) -> dict[str, Any] | None:
        cursor = cursor or {}
        seen = list(cursor.get("seen", []))
        page = _fingerprint(records) if records else None
        if page is not None and page == cursor.get("page"):
            raise LoopDetected("the API returned the same page twice in a row")
        token = self.token(response, body, records, cursor)
        if token is None or token == "":
            return None
        mark = _fingerprint(token)
        if mark in seen or (cursor.get("token") is not None and token == cursor.get("token")):
            raise LoopDetected(f"the API repeated a pagination cursor ({token})")
        return {"token": token, "page": page, "seen": [*seen, mark][-SEEN_KEPT:]}


class CursorPagination(_Paginator):
    """The next page's cursor is in the body; it goes back as a query parameter."""

    type: Literal["cursor"]
    cursor_path: str = Field(description="dotted path of the next cursor in the body")
    param: str = Field(description="query parameter that carries it")

    def request(self, cursor: dict[str, Any] | None) -> tuple[str | None, dict[str, Any]]:
        return None, ({self.param: cursor["token"]} if cursor else {})

    def token(self, response: httpx.Response, body: Any, records: list[Any],
              cursor: dict[str, Any]) -> Any:
        return dig(body, self.cursor_path)


class NextLinkPagination(_Paginator):
    """The body holds the next page's full URL."""

    type: Literal["next_link"]
    link_path: str

    def request(self, cursor: dict[str, Any] | None) -> tuple[str | None, dict[str, Any]]:
        return (cursor["token"] if cursor else None), {}

    def token(self, response: httpx.Response, body: Any, records: list[Any],
              cursor: dict[str, Any]) -> Any:
        link = dig(body, self.link_path)
        return None if not link else str(response.request.url.join(str(link)))


class LinkHeaderPagination(_Paginator):
    """RFC 8288 `Link: <url>; rel="next"` (GitHub style)."""

    type: Literal["link_header"]

    def request(self, cursor: dict[str, Any] | None) -> tuple[str | None, dict[str, Any]]:
        return (cursor["token"] if cursor else None), {}

    def token(self, response: httpx.Response, body: Any, records: list[Any],
              cursor: dict[str, Any]) -> Any:
        link = response.links.get("next", {}).get("url")
        return None if not link else str(response.request.url.join(link))


class OffsetPagination(_Paginator):
    """offset/limit parameters; a short page is the last one."""

    type: Literal["offset"]
    offset_param: str = "offset"
    limit_param: str = "limit"
    limit: int = Field(100, ge=1)

    def request(self, cursor: dict[str, Any] | None) -> tuple[str | None, dict[str, Any]]:
        return None, {self.offset_param: cursor["token"] if cursor else 0,
                      self.limit_param: self.limit}

    def token(self, response: httpx.Response, body: Any, records: list[Any],
              cursor: dict[str, Any]) -> Any:
        return None if len(records) < self.limit else cursor.get("token", 0) + len(records)


class PageNumberPagination(_Paginator):
    """page (and page size) parameters; a short or empty page is the last one."""

    type: Literal["page_number"]
    page_param: str = "page"
    start: int = Field(1, ge=0)
    size_param: str | None = "per_page"
    size: int = Field(100, ge=1)

    def request(self, cursor: dict[str, Any] | None) -> tuple[str | None, dict[str, Any]]:
        params: dict[str, Any] = {self.page_param: cursor["token"] if cursor else self.start}
        if self.size_param:
            params[self.size_param] = self.size
        return None, params

    def token(self, response: httpx.Response, body: Any, records: list[Any],
              cursor: dict[str, Any]) -> Any:
        if not records or (self.size_param and len(records) < self.size):
            return None
        return cursor.get("token", self.start) + 1


class SinglePage(_Paginator):
    """Everything in one response."""

    type: Literal["single_page"]

    def token(self, response: httpx.Response, body: Any, records: list[Any],
              cursor: dict[str, Any]) -> Any:
        return None


Pagination = Annotated[
    CursorPagination | NextLinkPagination | LinkHeaderPagination | OffsetPagination
    | PageNumberPagination | SinglePage,
    Field(discriminator="type"),
]
