"""Serves any sandbox app (Salesforce, the REST example) on a free port, for tests and demos.

`sandbox.server.SandboxServer` is wired to the HubSpot app; this is the same lifecycle for an app
given by the caller.
"""

from __future__ import annotations

import socket
import threading

import uvicorn
from starlette.applications import Starlette

from sandbox.server import STARTUP_TIMEOUT_S, SandboxServer, _Server


class AppServer(SandboxServer):
    def __init__(self, app: Starlette, sandbox: object, host: str = "127.0.0.1") -> None:
        super().__init__(sandbox, host)  # type: ignore[arg-type]
        self.app = app

    def start(self) -> AppServer:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        self.port = sock.getsockname()[1]
        self._socket = sock
        ready = threading.Event()
        config = uvicorn.Config(self.app, log_level="warning", access_log=False, lifespan="off")
        self._server = server = _Server(config, ready)
        self._thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]},
                                        name="sandbox-server", daemon=True)
        self._thread.start()
        if not ready.wait(STARTUP_TIMEOUT_S) or not server.started:
            self.stop()
            raise RuntimeError(f"sandbox server failed to start on {self.url}")
        return self
