"""A HubSpot-like contacts list endpoint for throughput benchmarks, cheap enough not to limit them.

    python bench/bench_api.py --records 100000 --now 2026-01-01T00:00:00Z [--seed 7]

Binds a free loopback port, prints `{"port": P}` on one line, then serves (run it in a process of
its own, so it never shares a GIL with the client it serves):

    GET  /crm/v3/objects/contacts?limit=&after=&updatedAfter=&updatedBefore=
         ordered by id; `after` = the id the next page starts at; updatedAt in [after, before)
    POST /oauth/v1/token          any refresh token -> a fresh bearer token
    POST /_bench/modify {"fraction": 0.01}  -> {"modified": k, "marker": "evangelist"}

Records are generated once from the seed, each kept as a pre-serialized JSON fragment; a page
is a join of fragments. A time-filtered request lists its window's ids once (cached per window).
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import json
import random
import socket
import sys
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from infra.times import iso, now_ms, parse_ms

PATH = "/crm/v3/objects/contacts"
MARKER = "evangelist"  # the lifecycle stage a modified record gets, and no generated one has
STAGES = ("subscriber", "lead", "marketingqualifiedlead", "salesqualifiedlead", "opportunity",
          "customer")
FIRST = ("Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Ken", "Frances", "John", "Radia")
LAST = ("Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Knuth", "Thompson", "Allen")
YEAR_MS = 365 * 86_400_000
WINDOW_CACHE = 64


def start_of_year_before(now: datetime) -> datetime:
    """A start date before every generated record (what every tool is given as its start)."""
    return now - timedelta(days=366)


def _record(i: int, created_ms: int, updated_ms: int, stage: str, rng: random.Random) -> bytes:
    first, last = rng.choice(FIRST), rng.choice(LAST)
    phone = f"({rng.randint(201, 989)}) {rng.randint(200, 999)}-{rng.randint(0, 9999):04d}"
    return json.dumps({
        "id": str(i),
        "properties": {
            "email": f"{first}.{last}.{i}@example.com".lower(), "firstname": first,
            "lastname": last, "phone": phone, "company": f"Company {i % 997}",
            "lifecyclestage": stage, "createdate": iso(created_ms),
            "lastmodifieddate": iso(updated_ms)},
        "createdAt": iso(created_ms), "updatedAt": iso(updated_ms), "archived": False,
    }, separators=(",", ":")).encode()


@dataclass
class Contacts:
    """Ids 1..N in order; updatedAt spread uniformly over the year before `now_ms`."""

    count: int
    now_ms: int
    seed: int = 7
    updated: list[int] = field(init=False)
    fragments: list[bytes] = field(init=False)
    by_time: list[tuple[int, int]] = field(init=False)  # (updated ms, index), sorted
    windows: OrderedDict[tuple[int, int], list[int]] = field(init=False)

    def __post_init__(self) -> None:
        rng = random.Random(self.seed)
        self.updated, self.fragments = [], []
        for i in range(1, self.count + 1):
            updated = self.now_ms - rng.randrange(1, YEAR_MS)
            created = updated - rng.randrange(0, 30 * 86_400_000)
            self.updated.append(updated)
            self.fragments.append(_record(i, created, updated, rng.choice(STAGES), rng))
        self._reindex()

    def _reindex(self) -> None:
        self.by_time = sorted((ms, i) for i, ms in enumerate(self.updated))
        self.windows = OrderedDict()

    def window(self, start_ms: int, end_ms: int) -> list[int]:
        """Indexes (= id - 1) of the records updated in [start, end), in id order."""
        key = (start_ms, end_ms)
        if key not in self.windows:
            lo = bisect.bisect_left(self.by_time, (start_ms, -1))
            hi = bisect.bisect_left(self.by_time, (end_ms, -1))
            self.windows[key] = sorted(i for _, i in self.by_time[lo:hi])
            if len(self.windows) > WINDOW_CACHE:
                self.windows.popitem(last=False)
        self.windows.move_to_end(key)
        return self.windows[key]

    def page(self, limit: int, after: int, start_ms: int | None, end_ms: int | None) -> bytes:
        picked: Sequence[int]
        if start_ms is None and end_ms is None:
            picked = range(after, min(after + limit + 1, self.count))
        else:
            ids = self.window(start_ms if start_ms is not None else -(2**62),
                              end_ms if end_ms is not None else 2**62)
            at = bisect.bisect_left(ids, after)
            picked = ids[at:at + limit + 1]
        body = b'{"results":[' + b",".join(self.fragments[i] for i in picked[:limit]) + b"]"
        if len(picked) > limit:
            body += b',"paging":{"next":{"after":"%d"}}' % (picked[limit] + 1)
        return body + b"}"

    def modify(self, fraction: float, at_ms: int) -> int:
        """Give a seeded sample of the records a new lifecycle stage, updated at `at_ms`."""
        rng = random.Random(self.seed + 1)
        chosen = rng.sample(range(self.count), round(self.count * fraction))
        for i in chosen:
            record = json.loads(self.fragments[i])
            record["properties"]["lifecyclestage"] = MARKER
            record["properties"]["lastmodifieddate"] = record["updatedAt"] = iso(at_ms)
            self.fragments[i] = json.dumps(record, separators=(",", ":")).encode()
            self.updated[i] = at_ms
        self._reindex()
        return len(chosen)


def _time_param(request: Request, name: str) -> int | None:
    value = request.query_params.get(name)
    return parse_ms(value) if value else None


def build_app(contacts: Contacts, latency_ms: int = 0) -> Starlette:
    async def list_contacts(request: Request) -> Response:
        if latency_ms:  # a remote API: the network and the provider's own work
            await asyncio.sleep(latency_ms / 1000)
        if not request.headers.get("authorization", "").startswith("Bearer "):
            return JSONResponse({"status": "error", "message": "missing bearer token"}, 401)
        try:
            limit = min(int(request.query_params.get("limit", 100)), 1000)
            after = int(request.query_params.get("after") or 1) - 1
            start, end = _time_param(request, "updatedAfter"), _time_param(request, "updatedBefore")
        except ValueError as exc:
            return JSONResponse({"status": "error", "message": str(exc)}, 400)
        return Response(contacts.page(limit, max(after, 0), start, end),
                        media_type="application/json")

    async def token(request: Request) -> Response:
        return JSONResponse({"access_token": "bench-access", "refresh_token": "bench-refresh",
                             "expires_in": 1800, "token_type": "bearer"})

    async def modify(request: Request) -> Response:
        fraction = float((await request.json())["fraction"])
        now = now_ms()
        # The change is newer than anything before it, yet not in the future of a sync that
        # starts after this call returns (its window ends at its own "now").
        modified = contacts.modify(fraction, max(now, contacts.now_ms))
        return JSONResponse({"modified": modified, "marker": MARKER})

    return Starlette(routes=[
        Route(PATH, list_contacts), Route("/oauth/v1/token", token, methods=["POST"]),
        Route("/_bench/modify", modify, methods=["POST"]),
    ])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, required=True)
    parser.add_argument("--now", required=True, help="ISO-8601; records end just before it")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--latency-ms", type=int, default=0, help="added to every list call")
    args = parser.parse_args()
    contacts = Contacts(args.records, parse_ms(args.now), args.seed)
    # IPPROTO_TCP spelled out: asyncio sets TCP_NODELAY only on sockets that say so, and without
    # it Nagle's algorithm and the client's delayed ACK add 40 ms to every small page.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    sock.listen(2048)  # clients may connect as soon as the port is printed: the kernel queues them
    print(json.dumps({"port": sock.getsockname()[1]}), flush=True)
    config = uvicorn.Config(build_app(contacts, args.latency_ms), log_level="warning",
                            access_log=False)
    uvicorn.Server(config).run(sockets=[sock])


if __name__ == "__main__":
    sys.exit(main())
