"""The sandbox portal's properties: `GET /crm/v3/properties/{objectType}` (and the 2026-03 path)
as api-facts describes it, and /_sandbox control operations to create and archive properties
while a sync runs.

HubSpot-defined properties cannot be archived (HubSpot refuses it), custom ones can; an
archived property leaves the default list (`archived=true` lists the archived ones) and, as in
HubSpot, a record request naming it is silently served without it.
"""

from __future__ import annotations

import json
import threading
import weakref
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from infra.times import iso, now_ms
from sandbox.hubspot_errors import ApiError
from sandbox.hubspot_state import OBJECT_TYPES, HubSpotSandbox
from sandbox.hubspot_versions import prefixes

PATHS = tuple(f"{prefix}/{{object_type}}" for prefix in prefixes("properties"))
# HubSpot-defined properties of each object the sandbox serves (beyond its records' own).
DEFINED: dict[str, tuple[str, ...]] = {
    "contacts": ("company", "createdate", "email", "firstname", "hs_email_domain",
                 "hs_object_id", "lastmodifieddate", "lastname", "lifecyclestage",
                 "mobilephone", "phone"),
    "companies": ("annualrevenue", "createdate", "domain", "hs_lastmodifieddate",
                  "hs_object_id", "industry", "name", "numberofemployees", "phone"),
    "deals": ("amount", "closedate", "createdate", "deal_currency_code", "dealname",
              "dealstage", "hs_lastmodifieddate", "hs_object_id", "pipeline"),
}
_TYPES = {"createdate": "datetime", "lastmodifieddate": "datetime",
          "hs_lastmodifieddate": "datetime", "closedate": "datetime", "amount": "number",
          "annualrevenue": "number", "numberofemployees": "number", "hs_object_id": "number"}


def _definition(name: str, defined: bool, at_ms: int, **given: Any) -> dict[str, Any]:
    kind = given.get("type") or _TYPES.get(name, "string")
    body: dict[str, Any] = {
        "name": name, "label": given.get("label") or name.replace("_", " ").title(),
        "type": kind, "fieldType": given.get("fieldType") or
        {"datetime": "date", "number": "number"}.get(kind, "text"),
        "description": "", "groupName": given.get("groupName") or "contactinformation",
        "options": [], "displayOrder": -1, "calculated": False, "externalOptions": False,
        "hasUniqueValue": bool(given.get("hasUniqueValue", False)), "hidden": False,
        "modificationMetadata": {"archivable": not defined, "readOnlyDefinition": defined,
                                 "readOnlyValue": name == "hs_object_id"},
        "formField": True, "createdAt": iso(at_ms), "updatedAt": iso(at_ms), "archived": False,
    }
    if defined:  # custom properties have `hubspotDefined` absent
        body["hubspotDefined"] = True
    return body


class PortalProperties:
    """Every object's property definitions; archived ones are kept, flagged."""

    def __init__(self, sandbox: HubSpotSandbox) -> None:
        self._sandbox = sandbox
        self._lock = threading.Lock()
        at = now_ms()
        self._props = {kind: {name: _definition(name, True, at) for name in names}
                       for kind, names in DEFINED.items()}

    def _of(self, object_type: str) -> dict[str, dict[str, Any]]:
        if object_type not in self._props:
            raise ApiError(404, f"Unable to infer object type from: {object_type}",
                           "OBJECT_NOT_FOUND")
        return self._props[object_type]

    def listed(self, object_type: str, archived: bool) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(p) for p in self._of(object_type).values()
                    if p["archived"] is archived]

    def create(self, object_type: str, name: str, **given: Any) -> None:
        """A custom property (or an archived one restored)."""
        if not isinstance(name, str) or not name:
            raise ValueError("a property needs a name")
        with self._lock:
            props = self._of(object_type)
            if name in props and not props[name]["archived"]:
                raise ValueError(f"property {name!r} already exists")
            if name in props:
                props[name] = {**props[name], "archived": False, "updatedAt": iso(now_ms())}
                props[name].pop("archivedAt", None)
            else:
                props[name] = _definition(name, False, now_ms(), **given)
        self._served(object_type, name, True)

    def archive(self, object_type: str, name: str) -> None:
        with self._lock:
            prop = self._of(object_type).get(name)
            if prop is None or prop["archived"]:
                raise KeyError(name)
            if prop.get("hubspotDefined"):
                raise ValueError(f"{name!r} is a HubSpot-defined property: it cannot be "
                                 "archived")
            at = iso(now_ms())
            prop.update(archived=True, archivedAt=at, updatedAt=at)
        self._served(object_type, name, False)

    def _served(self, object_type: str, name: str, live: bool) -> None:
        """Whether record requests naming the property get its values."""
        if object_type not in OBJECT_TYPES:
            return
        sandbox = self._sandbox
        with sandbox._lock:  # the store's own lock (sandbox.hubspot_state)
            names = sandbox._stores[object_type].property_names
            if live:
                names.add(name)
            else:
                names.discard(name)


_PORTALS: weakref.WeakKeyDictionary[HubSpotSandbox, PortalProperties] = \
    weakref.WeakKeyDictionary()


def portal(sandbox: HubSpotSandbox) -> PortalProperties:
    """The sandbox's properties (one per sandbox, made on first use)."""
    if sandbox not in _PORTALS:
        _PORTALS[sandbox] = PortalProperties(sandbox)
    return _PORTALS[sandbox]


async def list_properties(sandbox: HubSpotSandbox, request: Request) -> Response:
    archived = request.query_params.get("archived", "false").lower() == "true"
    return JSONResponse({"results": portal(sandbox).listed(request.path_params["object_type"],
                                                           archived)})


def _control(sandbox: HubSpotSandbox, action: str) -> Route:
    async def endpoint(request: Request) -> Response:
        try:
            body = json.loads(await request.body() or b"{}")
            props = portal(sandbox)
            kind = request.path_params["object_type"]
            if action == "create":
                props.create(kind, **body)
            else:
                props.archive(kind, body["name"])
            return JSONResponse({"ok": True})
        except ApiError as exc:
            return JSONResponse(exc.body, exc.status)
        except (ValueError, TypeError, KeyError) as exc:
            return JSONResponse({"error": f"{type(exc).__name__}: {exc}"}, 400)

    return Route(f"/_sandbox/properties/{{object_type}}/{action}", endpoint, methods=["POST"])


def _api(sandbox: HubSpotSandbox, path: str) -> Route:
    """Counted, authenticated and rate limited like every CRM call (sandbox.hubspot_app), but
    never served an injected fault: those are aimed at the object endpoints tests exercise."""
    async def handle(request: Request) -> Response:
        sandbox.count_request("api", "GET " + path.format(**request.path_params))
        headers: dict[str, str] = {}
        try:
            sandbox.authenticate(request.headers.get("authorization"))
            headers, limited = sandbox.admit(False)
            response = (JSONResponse(limited, 429) if limited is not None
                        else await list_properties(sandbox, request))
        except ApiError as exc:
            response = JSONResponse(exc.body, exc.status)
        response.headers.update(headers)
        sandbox.count_response(response.status_code)
        return response

    return Route(path, handle, methods=["GET"])


def property_routes(sandbox: HubSpotSandbox) -> list[Route]:
    """The API routes and the /_sandbox control routes."""
    return [*(_api(sandbox, path) for path in PATHS), _control(sandbox, "create"),
            _control(sandbox, "archive")]
