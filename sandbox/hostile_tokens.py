"""A token endpoint that misbehaves on purpose, in front of a sandbox's real grants.

Each request is exchanged by the sandbox itself (HubSpot's `exchange_refresh_token`,
Salesforce's `token`) (which issues the access token and, when it
rotates refresh tokens, retires the one sent), then answered as the test arranged: held until
the test releases it (a slow provider, without a fixed sleep), or with the answer changed, e.g.
`expires_in` of "soon" or 10^15, or no access token while the new refresh token is in it.

    tokens = HostileTokens(sandbox.exchange_refresh_token)
    with SandboxServer(tokens, app=create_app(tokens)) as server:
        tokens.answer_next(expires_in="soon")   # token URL: f"{server.url}{TOKEN_PATH}"
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

TOKEN_PATH = "/token"
Grants = Callable[[dict[str, str]], tuple[int, dict[str, Any]]]
DROP = object()  # answer_next(access_token=DROP): the key is left out of the answer


class HostileTokens:
    def __init__(self, grants: Grants | None = None) -> None:
        # The sandbox's token exchange; a test may set it once the sandbox exists.
        self.grants = grants
        self._lock = threading.Lock()
        self._changes: deque[dict[str, Any]] = deque()
        self._released = threading.Event()
        self._released.set()
        self._hold_s = 0.0
        # Set when a request arrives: the test knows the refresh is in flight.
        self.arrived = threading.Event()
        self.received = 0  # requests that reached the endpoint
        self.answered = 0  # ... and were answered

    def hold(self, at_most_s: float) -> None:
        """Hold every answer until `release()`, or `at_most_s` (a provider that slow)."""
        self._hold_s = at_most_s
        self.arrived.clear()
        self._released.clear()

    def release(self) -> None:
        self._released.set()

    def answer_next(self, **changes: Any) -> None:
        """Change the next answer (one call per answer): a key's new value, or DROP."""
        with self._lock:
            self._changes.append(changes)

    async def exchange(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        with self._lock:
            self.received += 1
        self.arrived.set()
        if not self._released.is_set():  # on a thread: the server's loop serves on meanwhile
            await asyncio.to_thread(self._released.wait, self._hold_s)
        assert self.grants is not None, "HostileTokens.grants is not set"
        status, body = self.grants(form)
        with self._lock:
            changes = self._changes.popleft() if self._changes else {}
            self.answered += 1
        for key, value in changes.items():
            if value is DROP:
                body.pop(key, None)
            else:
                body[key] = value
        return status, body


def create_app(tokens: HostileTokens) -> Starlette:
    async def token(request: Request) -> Response:
        form = dict(parse_qsl((await request.body()).decode()))
        status, body = await tokens.exchange(form)
        return JSONResponse(body, status)

    return Starlette(routes=[Route(TOKEN_PATH, token, methods=["POST"])])
