"""A hostile REST provider for the trust boundary's answers of size, time and waits (issue 14).

GET /v1/hostile/{mode} serves the people API's records (sandbox.rest_example, same API key) as
`{"data": [...], "next": cursor}` pages of PAGE records, the cursor in `?cursor=`; by mode:
- huge: one page padded with filler records to at least `page_bytes`, with its Content-Length,
  or chunked without one (`?chunked=1`);
- endless: `{"data": [` and then whitespace, a kilobyte every 10 ms, for as long as the client
  reads;
- trickle: a complete page sent one byte every `trickle_s` (each read is quick, the whole is
  not);
- paged: first the queued `answers` (status and headers, e.g. 429 with `Retry-After:
  99999999`), one per request, then the pages, each with `page_headers` (e.g. an absurd
  rate-limit reset).
POST /oauth/{mode} answers a token request (any credentials) the same way.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterable
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from sandbox.rest_example import PeopleApi

PAGE = 25
CHUNK = 64 * 1024
FILLER = ('{{"id":{0},"full_name":"Filler {0}","email":"filler{0}@example.com",'
          '"phone":"+1 415 555 0100","updated_at":"2020-01-01T00:00:00Z"}}')


class HostileApi(PeopleApi):
    def __init__(self, people: int = 30, *, page_bytes: int = 0, trickle_s: float = 0.25,
                 answers: Iterable[tuple[int, dict[str, str]]] = (),
                 page_headers: dict[str, str] | None = None) -> None:
        super().__init__(people)
        self.page_bytes = page_bytes
        self.trickle_s = trickle_s
        self.answers = list(answers)
        self.page_headers = page_headers or {}
        self._huge: bytes | None = None

    def page(self, params: Any) -> dict[str, Any]:
        rows = self.select(params)
        start = int(params.get("cursor") or 0)
        more = start + PAGE < len(rows)
        return {"data": rows[start:start + PAGE], "next": str(start + PAGE) if more else None}

    def huge(self, params: Any) -> bytes:
        """The records padded with filler records (ids after theirs) to `page_bytes` at least;
        built once, since the benchmark asks for 100 MB."""
        if self._huge is None:
            rows = self.select(params)
            real = json.dumps(rows, separators=(",", ":"))[1:-1].encode()
            filler, size, next_id = [], len(real), len(rows) + 1
            while size < self.page_bytes:
                filler.append(FILLER.format(next_id).encode())
                size += len(filler[-1]) + 1
                next_id += 1
            self._huge = b'{"data":[' + b",".join([real, *filler]) + b'],"next":null}'
        return self._huge

    def next_answer(self) -> tuple[int, dict[str, str]] | None:
        with self._lock:
            return self.answers.pop(0) if self.answers else None


async def _chunks(body: bytes) -> AsyncIterator[bytes]:
    for start in range(0, len(body), CHUNK):
        yield body[start:start + CHUNK]


async def _endless() -> AsyncIterator[bytes]:
    yield b'{"data": ['
    while True:
        await asyncio.sleep(0.01)
        yield b" " * 1024


async def _trickle(body: bytes, every_s: float) -> AsyncIterator[bytes]:
    for byte in body:
        yield bytes([byte])
        await asyncio.sleep(every_s)


def create_app(api: HostileApi) -> Starlette:
    def answer(mode: str, params: Any) -> Response:
        if mode == "huge":
            body = api.huge(params)
            if params.get("chunked"):
                return StreamingResponse(_chunks(body), media_type="application/json")
            return Response(body, media_type="application/json")
        if mode == "endless":
            return StreamingResponse(_endless(), media_type="application/json")
        if mode == "trickle":
            body = json.dumps(api.page(params)).encode()
            return StreamingResponse(_trickle(body, api.trickle_s), media_type="application/json")
        if mode == "paged":
            queued = api.next_answer()
            if queued is not None:
                status, headers = queued
                return JSONResponse({"error": {"message": f"HTTP {status}"}}, status, headers)
            return JSONResponse(api.page(params), headers=api.page_headers)
        return JSONResponse({"error": {"message": f"no mode {mode}"}}, 404)

    async def hostile(request: Request) -> Response:
        if not api.authorized(request):
            return JSONResponse({"error": {"message": "bad credentials"}}, 401)
        return answer(request.path_params["mode"], request.query_params)

    async def token(request: Request) -> Response:
        return answer(request.path_params["mode"], request.query_params)

    return Starlette(routes=[Route("/v1/hostile/{mode}", hostile, methods=["GET"]),
                             Route("/oauth/{mode}", token, methods=["POST"])])
