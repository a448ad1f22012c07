"""Starlette app: the simulated HubSpot CRM (v3 and 2026-03 paths), OAuth and /_sandbox control."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route

from sandbox import hubspot_associations
from sandbox.hubspot_control import control_routes
from sandbox.hubspot_errors import ApiError, daily_body, error_body, ten_secondly_body
from sandbox.hubspot_limits import Fault
from sandbox.hubspot_properties import property_routes
from sandbox.hubspot_state import MAX_LIST_LIMIT, HubSpotSandbox
from sandbox.hubspot_versions import prefixes

Core = Callable[[HubSpotSandbox, Request], Awaitable[Response]]
Endpoint = Callable[[Request], Awaitable[Response]]

SERVER_ERROR_MESSAGES = {
    500: "internal error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}
# What a misbehaving proxy might hand back with a 200: clients must not trust the status alone.
MALFORMED_BODY = b"<html><body><h1>Service temporarily unavailable</h1></body></html>"


def _query_int(params: QueryParams, name: str, default: int) -> int:
    raw = params.get(name)
    if raw is None:
        return default
    try:
        return int(raw)
    except ValueError:
        raise ApiError(400, f"Invalid {name} '{raw}': must be an integer.") from None


def _query_properties(params: QueryParams) -> list[str] | None:
    # HubSpot accepts both properties=a,b and repeated properties=a&properties=b.
    names = [
        name.strip()
        for raw in params.getlist("properties")
        for name in raw.split(",")
        if name.strip()
    ]
    return names or None


async def list_objects(sandbox: HubSpotSandbox, request: Request) -> Response:
    params = request.query_params
    limit = _query_int(params, "limit", 10)
    if not 1 <= limit <= MAX_LIST_LIMIT:
        raise ApiError(
            400,
            f"limit must be between 1 and {MAX_LIST_LIMIT}, got {limit}.",
            errors=[
                {
                    "message": f"limit must be at most {MAX_LIST_LIMIT}",
                    "code": "INVALID_LIMIT",
                    "in": "limit",
                }
            ],
        )
    results, next_id = sandbox.list_page(
        request.path_params["object_type"],
        _query_int(params, "after", 0),
        limit,
        params.get("archived", "false").lower() == "true",
        _query_properties(params),
    )
    body: dict[str, object] = {"results": results}
    if next_id is not None:
        link = str(request.url.include_query_params(after=next_id))
        body["paging"] = {"next": {"after": str(next_id), "link": link}}
    return JSONResponse(body)


async def read_object(sandbox: HubSpotSandbox, request: Request) -> Response:
    params = request.query_params
    return JSONResponse(
        sandbox.read(
            request.path_params["object_type"],
            request.path_params["object_id"],
            params.get("archived", "false").lower() == "true",
            _query_properties(params),
        )
    )


async def search_objects(sandbox: HubSpotSandbox, request: Request) -> Response:
    try:
        body = json.loads(await request.body() or b"{}")
    except json.JSONDecodeError as exc:
        raise ApiError(
            400, f"Invalid input JSON on line {exc.lineno}, column {exc.colno}: {exc.msg}"
        ) from None
    return JSONResponse(sandbox.search(request.path_params["object_type"], body))


async def token(sandbox: HubSpotSandbox, request: Request) -> Response:
    form = dict(parse_qsl((await request.body()).decode()))
    status, body = sandbox.exchange_refresh_token(form)
    return JSONResponse(body, status)


async def _run(sandbox: HubSpotSandbox, core: Core, request: Request) -> Response:
    try:
        return await core(sandbox, request)
    except ApiError as exc:
        return JSONResponse(exc.body, exc.status)


def _retry_after(fault: Fault) -> dict[str, str]:
    # Only when asked for: HubSpot does not document Retry-After on 429s.
    return {} if fault.retry_after is None else {"Retry-After": f"{fault.retry_after:g}"}


async def _serve_fault(
    fault: Fault, request: Request, normal: Endpoint, core: Core, sandbox: HubSpotSandbox
) -> Response:
    if fault.kind == "slow":
        await asyncio.sleep(fault.delay_s)
        return await normal(request)
    if fault.kind == "server_error":
        status = fault.status or 500
        message = SERVER_ERROR_MESSAGES.get(status, "internal error")
        return JSONResponse(
            error_body(message, "INTERNAL_ERROR"), status, headers=_retry_after(fault)
        )
    if fault.kind == "rate_limit":
        headers = sandbox.limit_headers(search=False) | _retry_after(fault)
        return JSONResponse(ten_secondly_body(), 429, headers=headers)
    if fault.kind == "daily_limit":
        return JSONResponse(daily_body(), 429, headers=_retry_after(fault))
    if fault.kind == "error_200":
        return JSONResponse(
            error_body("An internal error occurred while processing the request.", "INTERNAL_ERROR")
        )
    if fault.kind == "malformed_json":
        return Response(MALFORMED_BODY, media_type="application/json")
    # truncated: the real payload (auth and limits skipped, like every fault) cut in half.
    response = await _run(sandbox, core, request)
    return Response(
        bytes(response.body[: len(response.body) // 2]),
        response.status_code,
        media_type="application/json",
    )


def _endpoint(
    sandbox: HubSpotSandbox, target: str, label: str, core: Core, search: bool = False
) -> Endpoint:
    """Wraps a handler with stats, fault injection, then (for the CRM API) auth and rate limits."""

    async def normal(request: Request) -> Response:
        headers: dict[str, str] = {}
        try:
            if target == "api":
                sandbox.authenticate(request.headers.get("authorization"))
                headers, limited = sandbox.admit(search)
                if limited is not None:
                    return JSONResponse(limited, 429, headers=headers)
            response = await core(sandbox, request)
        except ApiError as exc:
            response = JSONResponse(exc.body, exc.status)
        response.headers.update(headers)
        return response

    async def handle(request: Request) -> Response:
        sandbox.count_request(target, label.format(**request.path_params))
        fault = sandbox.take_fault(target)
        if fault is None:
            response = await normal(request)
        else:
            response = await _serve_fault(fault, request, normal, core, sandbox)
        sandbox.count_response(response.status_code)
        return response

    return handle


def _object_routes(sandbox: HubSpotSandbox, prefix: str) -> list[Route]:
    objects = prefix + "/{object_type}"
    return [
        Route(objects, _endpoint(sandbox, "api", "GET " + objects, list_objects), methods=["GET"]),
        Route(
            objects + "/search",
            _endpoint(sandbox, "api", "POST " + objects + "/search", search_objects, search=True),
            methods=["POST"],
        ),
        Route(
            objects + "/{object_id}",
            _endpoint(sandbox, "api", "GET " + objects + "/{{id}}", read_object),
            methods=["GET"],
        ),
    ]


def create_app(sandbox: HubSpotSandbox) -> Starlette:
    return Starlette(
        routes=[
            Route(
                "/oauth/v1/token",
                _endpoint(sandbox, "token", "POST /oauth/v1/token", token),
                methods=["POST"],
            ),
            # Both API versions, one behaviour (sandbox/hubspot_versions.py).
            *(r for prefix in prefixes("objects") for r in _object_routes(sandbox, prefix)),
            *property_routes(sandbox),
            *hubspot_associations.routes(sandbox, _endpoint),
            Mount("/_sandbox", routes=control_routes(sandbox)),
        ]
    )
