"""Runs a sandbox app under uvicorn on a background thread, for tests and demos in one process."""

from __future__ import annotations

import socket
import threading
import time
from types import TracebackType
from typing import Any

import uvicorn
from starlette.applications import Starlette

from sandbox.hubspot_app import create_app

STARTUP_TIMEOUT_S = 10.0


class _Server(uvicorn.Server):
    """Signals an Event once listening, so start() waits on readiness rather than sleeping."""

    def __init__(self, config: uvicorn.Config, ready: threading.Event) -> None:
        super().__init__(config)
        self.ready = ready

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        try:
            await super().startup(sockets)
        finally:
            self.ready.set()


class SandboxServer:
    def __init__(
        self, sandbox: Any, host: str = "127.0.0.1", port: int = 0, app: Starlette | None = None
    ) -> None:
        """Serve `app`, by default the HubSpot app of `sandbox` (pass the Salesforce or REST
        example app with their own state)."""
        self.sandbox = sandbox
        self.app = app if app is not None else create_app(sandbox)
        self.host = host
        self.port = port
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None
        # (arrival in epoch seconds, path) of every HTTP request: tests measure real pacing here.
        self.requests: list[tuple[float, str]] = []

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> SandboxServer:
        # Binding here (port 0 = any free port) reserves and reveals it before uvicorn runs.
        # IPPROTO_TCP spelled out: asyncio sets TCP_NODELAY only on sockets that say so, and
        # without it every small response waits ~40 ms on Nagle and delayed ACKs.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        self.port = sock.getsockname()[1]
        self._socket = sock
        ready = threading.Event()
        config = uvicorn.Config(self._logged, log_level="warning", access_log=False, lifespan="off",
                                interface="asgi3")
        self._server = server = _Server(config, ready)
        self._thread = threading.Thread(
            target=server.run, kwargs={"sockets": [sock]}, name="sandbox-server", daemon=True
        )
        self._thread.start()
        if not ready.wait(STARTUP_TIMEOUT_S) or not server.started:
            self.stop()
            raise RuntimeError(f"sandbox server failed to start on {self.url}")
        return self

    async def _logged(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            self.requests.append((time.time(), scope["path"]))
        await self.app(scope, receive, send)

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(STARTUP_TIMEOUT_S)
        if self._socket is not None:
            self._socket.close()
        self._server = self._thread = self._socket = None

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
