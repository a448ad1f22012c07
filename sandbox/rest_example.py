"""A small "people" API that pages in every common style, for the declarative REST connector.

GET /v1/people/{style} with style in cursor (body cursor, `cursor` param), next-link (body URL),
link-header (RFC 8288), offset (offset/limit), pages (page/per_page), all (single page) and
looping (a broken API whose cursor never changes). Every style filters on `updated_since` /
`updated_before` (ISO 8601) and orders by (updated_at, id). Auth: `X-API-Key`, HTTP basic
(any user, the key as password), or a bearer token from POST /oauth/token (client credentials).
"""

from __future__ import annotations

import base64
import secrets
import threading
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from infra.times import iso, parse_iso, to_ms

PAGE = 25


def _iso(value: datetime) -> str:
    return iso(to_ms(value), "seconds")


class PeopleApi:
    def __init__(self, people: int = 120, invalid: int = 0,
                 seed_time: datetime | None = None) -> None:
        self._lock = threading.Lock()
        self.api_key = secrets.token_hex(12)
        self.client_id = "people-client"
        self._tokens: set[str] = set()
        self.requests = 0
        self.error_in_body_next = False
        base = seed_time or datetime.now(UTC).replace(microsecond=0) - timedelta(days=10)
        self._people: dict[int, dict[str, Any]] = {}
        for i in range(1, people + 1):
            # Two people per second: ties on the cursor field.
            self._put(i, base + timedelta(seconds=i // 2),
                      **({"email": "not-an-email"} if i <= invalid else {}))

    def _put(self, person_id: int, updated: datetime, **values: Any) -> None:
        self._people[person_id] = {
            "id": person_id, "full_name": f"Person {person_id}",
            "email": f"person{person_id}@example.com", "phone": "+1 415 555 0100",
            "updated_at": _iso(updated), **values,
        }

    def people(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(p) for p in self._people.values()]

    def touch(self, ids: list[int], **values: Any) -> None:
        with self._lock:
            now = datetime.now(UTC).replace(microsecond=0)
            for person_id in ids:
                current = {k: v for k, v in self._people[person_id].items() if k != "updated_at"}
                self._put(person_id, now, **(current | values))

    def issue_token(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        if form.get("grant_type") != "client_credentials" or form.get("client_id") != \
                self.client_id or form.get("client_secret") != self.api_key:
            return 401, {"error": "invalid_client"}
        with self._lock:
            token = secrets.token_urlsafe(24)
            self._tokens.add(token)
        return 200, {"access_token": token, "token_type": "bearer", "expires_in": 3600}

    def authorized(self, request: Request) -> bool:
        if request.headers.get("x-api-key") == self.api_key:
            return True
        scheme, _, value = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "basic":
            _, _, password = base64.b64decode(value).decode().partition(":")
            return password == self.api_key
        with self._lock:
            return scheme.lower() == "bearer" and value in self._tokens

    def select(self, params: Any) -> list[dict[str, Any]]:
        since, before = params.get("updated_since"), params.get("updated_before")
        with self._lock:
            rows = sorted(self._people.values(), key=lambda p: (p["updated_at"], p["id"]))
            self.requests += 1
        return [dict(p) for p in rows
                if (since is None or parse_iso(p["updated_at"]) >= parse_iso(since))
                and (before is None or parse_iso(p["updated_at"]) < parse_iso(before))]


def _int(params: Any, name: str, default: int) -> int:
    value = params.get(name)
    return int(value) if value and value.isdigit() else default


def create_app(api: PeopleApi) -> Starlette:
    async def token(request: Request) -> Response:
        status, body = api.issue_token(dict(parse_qsl((await request.body()).decode())))
        return JSONResponse(body, status)

    async def people(request: Request) -> Response:
        if not api.authorized(request):
            return JSONResponse({"error": {"message": "bad credentials"}}, 401)
        if api.error_in_body_next:
            api.error_in_body_next = False
            return JSONResponse({"ok": False, "error": {"message": "backend unavailable"}})
        params, style = request.query_params, request.path_params["style"]
        rows = api.select(params)
        if style == "all":
            return JSONResponse({"ok": True, "data": rows})
        if style == "offset":
            offset, limit = _int(params, "offset", 0), _int(params, "limit", PAGE)
            return JSONResponse({"ok": True, "data": rows[offset:offset + limit],
                                 "total": len(rows)})
        if style == "pages":
            page, size = _int(params, "page", 1), _int(params, "per_page", PAGE)
            return JSONResponse({"ok": True, "data": rows[(page - 1) * size:page * size]})
        if style == "looping":  # a broken API: always the same cursor
            return JSONResponse({"ok": True, "data": rows[:PAGE],
                                 "meta": {"next_cursor": "c2FtZQ=="}})
        start = int(base64.urlsafe_b64decode(params.get("cursor", "") or "MA==").decode() or 0)
        chunk = rows[start:start + PAGE]
        more = start + PAGE < len(rows)
        cursor = base64.urlsafe_b64encode(str(start + PAGE).encode()).decode() if more else None
        if style == "cursor":
            return JSONResponse({"ok": True, "data": chunk, "meta": {"next_cursor": cursor}})
        link = str(request.url.include_query_params(cursor=cursor)) if more else None
        if style == "next-link":
            return JSONResponse({"ok": True, "data": chunk, "links": {"next": link}})
        if style == "link-header":
            headers = {"Link": f'<{link}>; rel="next"'} if link else {}
            return JSONResponse(chunk, headers=headers | {"X-RateLimit-Remaining": "99"})
        return JSONResponse({"ok": False, "error": {"message": f"no style {style}"}}, 404)

    return Starlette(routes=[
        Route("/oauth/token", token, methods=["POST"]),
        Route("/v1/people/{style}", people, methods=["GET"]),
    ])
