"""/_sandbox/* control API: lets a process drive a sandbox running in another process.

Unauthenticated and not rate limited on purpose; it is not part of the simulated HubSpot surface.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sandbox import hubspot_archive
from sandbox.hubspot_state import HubSpotSandbox

Action = Callable[[HubSpotSandbox, dict[str, Any]], Any]

FAULT_FIELDS = ("kind", "count", "status", "retry_after", "delay_s", "target")


def _inject(sb: HubSpotSandbox, body: dict[str, Any]) -> dict[str, Any]:
    sb.inject(**{k: v for k, v in body.items() if k in FAULT_FIELDS})
    return {"ok": True}


def _create(sb: HubSpotSandbox, body: dict[str, Any]) -> dict[str, Any]:
    ids = sb.create_contacts(
        int(body.get("n", 1)), body.get("lastmodified_ms"), **body.get("properties", {})
    )
    return {"ids": ids}


def _modify(sb: HubSpotSandbox, body: dict[str, Any]) -> dict[str, Any]:
    return {"ids": sb.modify_contacts(body.get("ids"), body.get("n"), body.get("lastmodified_ms"))}


def _create_objects(object_type: str) -> Action:
    def action(sb: HubSpotSandbox, body: dict[str, Any]) -> dict[str, Any]:
        return {"ids": sb.create_objects(object_type, int(body.get("n", 1)),
                                         body.get("lastmodified_ms"), **body.get("properties", {}))}

    return action


def _modify_objects(object_type: str) -> Action:
    def action(sb: HubSpotSandbox, body: dict[str, Any]) -> dict[str, Any]:
        return {"ids": sb.modify_objects(object_type, body.get("ids"), body.get("n"),
                                         body.get("lastmodified_ms"))}

    return action


def _archive(sb: HubSpotSandbox, body: dict[str, Any]) -> dict[str, Any]:
    sb.archive_contacts(body["ids"])
    return {"ok": True}


def _done(method: Callable[[HubSpotSandbox], object]) -> Action:
    def action(sb: HubSpotSandbox, body: dict[str, Any]) -> dict[str, Any]:
        method(sb)
        return {"ok": True}

    return action


def _route(sandbox: HubSpotSandbox, path: str, action: Action, method: str = "POST") -> Route:
    async def endpoint(request: Request) -> Response:
        try:
            body = json.loads(await request.body() or b"{}")
            return JSONResponse(action(sandbox, body))
        except (ValueError, TypeError, KeyError) as exc:
            return JSONResponse({"error": f"{type(exc).__name__}: {exc}"}, 400)

    return Route(path, endpoint, methods=[method])


def control_routes(sandbox: HubSpotSandbox) -> list[Route]:
    return [
        _route(sandbox, "/faults", _inject),
        _route(sandbox, "/faults", _done(HubSpotSandbox.clear_faults), "DELETE"),
        _route(sandbox, "/contacts/create", _create),
        _route(sandbox, "/contacts/modify", _modify),
        _route(sandbox, "/contacts/archive", _archive),
        *(_route(sandbox, f"/{t}/create", _create_objects(t)) for t in ("companies", "deals")),
        *(_route(sandbox, f"/{t}/modify", _modify_objects(t)) for t in ("companies", "deals")),
        _route(sandbox, "/contacts/invalid", lambda sb, _: {"ids": sb.invalid_ids()}, "GET"),
        _route(sandbox, "/tokens/expire", _done(HubSpotSandbox.expire_access_tokens)),
        _route(sandbox, "/refresh-token/revoke", _done(HubSpotSandbox.revoke_refresh_token)),
        _route(
            sandbox,
            "/refresh-token/reset",
            lambda sb, _: {"refresh_token": sb.reset_refresh_token()},
        ),
        _route(sandbox, "/stats", lambda sb, _: sb.stats, "GET"),
        _route(sandbox, "/stats/reset", _done(HubSpotSandbox.reset_stats)),
        _route(sandbox, "/credentials", lambda sb, _: sb.credentials(), "GET"),
        *hubspot_archive.routes(sandbox),
    ]
