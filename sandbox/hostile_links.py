"""Hostile answers for the trust boundary: links, redirects and echoes that try to take a
credential somewhere else, or into what Tributary stores.

`people_app(api, elsewhere)`: the people API (sandbox.rest_example) under
GET /v1/hostile/{style}, 25 people a page, auth as the people API's (API key header or query
parameter `api_key`, basic, bearer from POST /oauth/token):

- `next-link`: the body's `links.next` is on `elsewhere` (another origin);
- `link-header`: `Link: <elsewhere/...>; rel="next"`;
- `redirect`: 302 to `elsewhere`;
- `file-link`: `links.next` is `file:///etc/passwd`;
- `token-link`: a same-origin `links.next` that carries `access_token=` (the caller's bearer
  token, as some APIs do). Like those APIs, an `access_token` parameter, when present, must be a
  token this API issued.

POST /oauth/echo is a token endpoint that refuses every request and echoes the posted form.

`salesforce_app(sandbox, next_url, echo_status)`: Salesforce's token endpoint and queryAll over a
SalesforceSandbox; the first batch says `done: false` with `nextRecordsUrl` = `next_url`. With
`echo_status`, the token endpoint answers that status with the posted form in its error.
"""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from sandbox.rest_example import PAGE, PeopleApi
from sandbox.salesforce_app import create_app as salesforce_create_app
from sandbox.salesforce_state import SalesforceError, SalesforceSandbox

FILE_LINK = "file:///etc/passwd"


def _echo(form: bytes) -> str:
    return f"rejected request: {form.decode()} {dict(parse_qsl(form.decode()))}"


def people_app(api: PeopleApi, elsewhere: str) -> Starlette:
    issued: set[str] = set()  # bearer tokens seen on authorized requests

    def authorized(request: Request) -> bool:
        if "api_key" in request.query_params:  # the key as a query parameter
            return request.query_params["api_key"] == api.api_key
        if not api.authorized(request):
            return False
        scheme, _, value = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer":
            issued.add(value)
        return request.query_params.get("access_token", value) in issued | {value}

    async def token(request: Request) -> Response:
        status, body = api.issue_token(dict(parse_qsl((await request.body()).decode())))
        return JSONResponse(body, status)

    async def echo(request: Request) -> Response:
        return JSONResponse({"error": "invalid_client",
                             "error_description": _echo(await request.body())}, 401)

    async def hostile(request: Request) -> Response:
        if not authorized(request):
            return JSONResponse({"error": {"message": "bad credentials"}}, 401)
        style = request.path_params["style"]
        if style == "redirect":
            return RedirectResponse(f"{elsewhere}/v1/people/all", 302)
        params = request.query_params
        start = int(base64.urlsafe_b64decode(params.get("cursor", "") or "MA==").decode() or 0)
        rows = api.select(params)
        chunk, more = rows[start:start + PAGE], start + PAGE < len(rows)
        cursor = base64.urlsafe_b64encode(str(start + PAGE).encode()).decode()
        link: str | None = None
        if style in ("next-link", "link-header"):
            link = f"{elsewhere}/v1/people/next-link?cursor={cursor}"
        elif style == "file-link":
            link = FILE_LINK
        elif style == "token-link" and more:
            _, _, bearer = request.headers.get("authorization", "").partition(" ")
            link = str(request.url.include_query_params(cursor=cursor, access_token=bearer))
        elif style != "token-link":
            return JSONResponse({"ok": False, "error": {"message": f"no style {style}"}}, 404)
        if style == "link-header":
            return JSONResponse(chunk, headers={"Link": f'<{link}>; rel="next"'})
        return JSONResponse({"ok": True, "data": chunk, "links": {"next": link}})

    return Starlette(routes=[
        Route("/oauth/token", token, methods=["POST"]),
        Route("/oauth/echo", echo, methods=["POST"]),
        Route("/v1/hostile/{style}", hostile, methods=["GET"]),
    ])


def salesforce_app(sandbox: SalesforceSandbox, next_url: str = "",
                   echo_status: int | None = None) -> Starlette:
    """The Salesforce sandbox's app, its token endpoint and first batches made hostile."""
    honest = salesforce_create_app(sandbox)

    async def token(request: Request) -> Response:
        form = await request.body()
        if echo_status is None:
            status, body = sandbox.token(dict(parse_qsl(form.decode())))
            return JSONResponse(body, status)
        if echo_status < 500:
            return JSONResponse({"error": "invalid_grant", "error_description": _echo(form)},
                                echo_status)
        return JSONResponse(SalesforceError(echo_status, "UNKNOWN_EXCEPTION", _echo(form)).body,
                            echo_status)

    async def query_all(request: Request) -> Response:
        try:
            sandbox.authenticate(request.headers.get("authorization"))
            body: dict[str, Any] = sandbox.query(request.query_params["q"], True, 200)
        except SalesforceError as exc:
            return JSONResponse(exc.body, exc.status)
        return JSONResponse(body | {"done": False, "nextRecordsUrl": next_url})

    data = "/services/data/{version}"
    return Starlette(routes=[
        Route("/services/oauth2/token", token, methods=["POST"]),
        Route(data + "/queryAll", query_all, methods=["GET"]),
        *honest.routes,
    ])
