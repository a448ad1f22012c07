"""A second HTTP server, on another port: it records every request that reaches it.

The trust-boundary tests point hostile links, redirects and nextRecordsUrls at it and then assert
that no request carrying a credential (or none at all) arrived. It answers every request with an
empty page, so a sync that did follow a link would go on rather than fail for another reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import TracebackType

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sandbox import SandboxServer

EMPTY_PAGE = {"ok": True, "data": [], "links": {}, "records": [], "done": True, "totalSize": 0}
# Headers that carry a credential whatever its value (the people API's key header included).
CREDENTIAL_HEADERS = ("authorization", "x-api-key", "cookie")


@dataclass(frozen=True)
class Recorded:
    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: str

    def carries(self, secrets: tuple[str, ...]) -> bool:
        """A credential header, or one of `secrets` anywhere in the request."""
        if any(name in self.headers for name in CREDENTIAL_HEADERS):
            return True
        text = " ".join((self.path, self.query, self.body, *self.headers.values()))
        return any(secret and secret in text for secret in secrets)


class Recorder:
    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self.server = SandboxServer(self, app=Starlette(routes=[
            Route("/{path:path}", self._record,
                  methods=["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]),
        ]))

    async def _record(self, request: Request) -> Response:
        self.requests.append(Recorded(
            request.method, request.url.path, request.url.query,
            {k.lower(): v for k, v in request.headers.items()},
            (await request.body()).decode(errors="replace")))
        return JSONResponse(EMPTY_PAGE)

    @property
    def url(self) -> str:
        return self.server.url

    def credentialed(self, *secrets: str) -> list[Recorded]:
        """The requests that carried a credential header or one of `secrets`."""
        return [r for r in self.requests if r.carries(secrets)]

    def __enter__(self) -> Recorder:
        self.server.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.server.stop()
