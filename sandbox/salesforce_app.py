"""Starlette app of the Salesforce sandbox: OAuth, query/queryAll, and a /_sandbox control API.

Faults are injected exactly like the HubSpot sandbox's (same kinds and targets), rendered in
Salesforce's shapes: JSON-array bodies, 403 REQUEST_LIMIT_EXCEEDED for limits.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route

from sandbox.hubspot_limits import Fault
from sandbox.salesforce_state import DEFAULT_BATCH, SalesforceError, SalesforceSandbox

Handler = Callable[[Request], Awaitable[Response]]
_MALFORMED = b"<html><body>Service Unavailable</body></html>"


def _error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Response:
    return JSONResponse(SalesforceError(status, code, message).body, status, headers=headers)


def _batch_size(request: Request) -> int:
    options = request.headers.get("sforce-query-options", "")
    for part in options.split(","):
        name, _, value = part.strip().partition("=")
        if name == "batchSize" and value.isdigit():
            return int(value)
    return DEFAULT_BATCH


async def _fault_response(fault: Fault, normal: Handler, request: Request) -> Response:
    retry = {} if fault.retry_after is None else {"Retry-After": f"{fault.retry_after:g}"}
    match fault.kind:
        case "slow":
            await asyncio.sleep(fault.delay_s)
            return await normal(request)
        case "server_error":
            return _error(fault.status or 500, "UNKNOWN_EXCEPTION",
                          "An unexpected error occurred.", retry)
        case "rate_limit":
            return _error(403, "REQUEST_LIMIT_EXCEEDED",
                          "ConcurrentPerOrgLongTxn Limit exceeded.", retry)
        case "daily_limit":
            return _error(403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.", retry)
        case "error_200":
            return JSONResponse([{"message": "An unexpected error occurred.",
                                  "errorCode": "UNKNOWN_EXCEPTION"}])
        case "malformed_json":
            return Response(_MALFORMED, media_type="application/json")
    response = await normal(request)  # truncated
    return Response(bytes(response.body[: len(response.body) // 2]), response.status_code,
                    media_type="application/json")


def _endpoint(sandbox: SalesforceSandbox, target: str, core: Handler) -> Handler:
    async def normal(request: Request) -> Response:
        headers: dict[str, str] = {}
        try:
            if target == "api":
                sandbox.authenticate(request.headers.get("authorization"))
                headers["Sforce-Limit-Info"] = sandbox.admit()
            response = await core(request)
        except SalesforceError as exc:
            response = JSONResponse(exc.body, exc.status)
        response.headers.update(headers)
        return response

    async def handle(request: Request) -> Response:
        fault = sandbox.take_fault(target)
        response = await (normal(request) if fault is None
                          else _fault_response(fault, normal, request))
        sandbox.count(target, response.status_code)
        return response

    return handle


def create_app(sandbox: SalesforceSandbox) -> Starlette:
    async def token(request: Request) -> Response:
        status, body = sandbox.token(dict(parse_qsl((await request.body()).decode())))
        return JSONResponse(body, status)

    def query(include_deleted: bool) -> Handler:
        async def core(request: Request) -> Response:
            soql = request.query_params.get("q")
            if not soql:
                raise SalesforceError(400, "MALFORMED_QUERY", "q parameter is required")
            return JSONResponse(sandbox.query(soql, include_deleted, _batch_size(request)))
        return core

    async def more(request: Request) -> Response:
        return JSONResponse(sandbox.more(request.path_params["locator"]))

    data = "/services/data/{version}"
    return Starlette(routes=[
        Route("/services/oauth2/token", _endpoint(sandbox, "token", token), methods=["POST"]),
        Route(data + "/query", _endpoint(sandbox, "api", query(False)), methods=["GET"]),
        Route(data + "/queryAll", _endpoint(sandbox, "api", query(True)), methods=["GET"]),
        Route(data + "/query/{locator}", _endpoint(sandbox, "api", more), methods=["GET"]),
        Mount("/_sandbox", routes=_control_routes(sandbox)),
    ])


def _control_routes(sandbox: SalesforceSandbox) -> list[Route]:
    actions: dict[str, Callable[[dict[str, Any]], Any]] = {
        "faults": lambda b: sandbox.inject(**b),
        "sessions/expire": lambda b: sandbox.expire_sessions(),
        "locators/invalidate": lambda b: sandbox.invalidate_locators(),
        "create": lambda b: sandbox.create(b["sobject"], int(b.get("n", 1)), b.get("stamp_ms")),
        "delete": lambda b: sandbox.delete(b["sobject"], b["ids"]),
    }

    def route(path: str, action: Callable[[dict[str, Any]], Any]) -> Route:
        async def endpoint(request: Request) -> Response:
            try:
                return JSONResponse({"result": action(json.loads(await request.body() or b"{}"))})
            except (ValueError, TypeError, KeyError) as exc:
                return JSONResponse({"error": f"{type(exc).__name__}: {exc}"}, 400)
        return Route(f"/{path}", endpoint, methods=["POST"])

    async def stats(request: Request) -> Response:
        return JSONResponse(sandbox.stats)

    return [route(p, a) for p, a in actions.items()] + [Route("/stats", stats)]
