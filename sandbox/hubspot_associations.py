"""The sandbox's associations between its contacts, companies and deals: the v4 batch read
(shared/api-facts.md, "HubSpot: associations v4") and control operations to associate and
dissociate records during a sync.

Associations are undirected, each direction with its own HubSpot-defined type id. Changing
them never touches the records (their last-modified dates stay): the worst case HubSpot
presents to an incremental sync (docs/CONNECTORS.md, "Associations").
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sandbox.hubspot_errors import ApiError, error_body
from sandbox.hubspot_versions import prefixes

OBJECT_TYPES = ("contacts", "companies", "deals")
# The primary types of api-facts: contact->company 1, company->contact 2, deal->contact 3,
# contact->deal 4, deal->company 5, company->deal 6.
TYPE_IDS = {("contacts", "companies"): 1, ("companies", "contacts"): 2,
            ("deals", "contacts"): 3, ("contacts", "deals"): 4,
            ("deals", "companies"): 5, ("companies", "deals"): 6}
MAX_INPUTS = 100  # the 2024 cap on association batch reads
PAGE_SIZE = 500  # associations per record per answer (UNCERTAIN on HubSpot's pages)

Node = tuple[str, int]  # (object type, id)


class AssociationGraph:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._edges: dict[Node, set[Node]] = {}
        self.page_size = PAGE_SIZE  # a test knob: a smaller page makes paging happen
        self.max_inputs = MAX_INPUTS

    # -- control ---------------------------------------------------------------------------
    def associate(self, a_type: str, a_id: str, b_type: str, b_id: str) -> None:
        a, b = _node(a_type, a_id), _node(b_type, b_id)
        if (a[0], b[0]) not in TYPE_IDS:
            raise ValueError(f"no association between {a_type} and {b_type}")
        with self._lock:
            self._edges.setdefault(a, set()).add(b)
            self._edges.setdefault(b, set()).add(a)

    def dissociate(self, a_type: str, a_id: str, b_type: str, b_id: str) -> None:
        a, b = _node(a_type, a_id), _node(b_type, b_id)
        with self._lock:
            self._edges.get(a, set()).discard(b)
            self._edges.get(b, set()).discard(a)

    def current(self, from_type: str, to_type: str) -> set[tuple[str, str, int]]:
        """Every association from `from_type` to `to_type`: (from id, to id, type id)."""
        type_id = TYPE_IDS[(from_type, to_type)]
        with self._lock:
            return {(str(a[1]), str(b[1]), type_id) for a, targets in self._edges.items()
                    if a[0] == from_type for b in targets if b[0] == to_type}

    # -- the API ---------------------------------------------------------------------------
    def batch_read(self, from_type: str, to_type: str, body: Any) -> dict[str, Any]:
        if from_type not in OBJECT_TYPES or to_type not in OBJECT_TYPES:
            bad = from_type if from_type not in OBJECT_TYPES else to_type
            raise ApiError(400, f"Unable to infer object type from: {bad}", "VALIDATION_ERROR")
        inputs = body.get("inputs") if isinstance(body, dict) else None
        if not isinstance(inputs, list) or not all(isinstance(i, dict) for i in inputs):
            raise ApiError(400, "Invalid input JSON: inputs must be a list of objects",
                           "VALIDATION_ERROR")
        if len(inputs) > self.max_inputs:
            raise ApiError(400, f"Batch input size {len(inputs)} is greater than the "
                           f"maximum of {self.max_inputs}", "VALIDATION_ERROR")
        type_id = TYPE_IDS[(from_type, to_type)]
        results = []
        with self._lock:
            for item in inputs:
                node = _node(from_type, str(item.get("id", "")))
                targets = sorted(b[1] for b in self._edges.get(node, ()) if b[0] == to_type)
                offset = _offset(item.get("after"))
                page = targets[offset:offset + self.page_size]
                if not page:
                    continue  # a record without such associations is not in the results
                result: dict[str, Any] = {"from": {"id": str(node[1])}, "to": [
                    {"toObjectId": to_id, "associationTypes": [
                        {"category": "HUBSPOT_DEFINED", "typeId": type_id, "label": None}]}
                    for to_id in page]}
                if offset + self.page_size < len(targets):
                    result["paging"] = {"next": {"after": str(offset + self.page_size)}}
                results.append(result)
        return {"status": "COMPLETE", "results": results}


def _node(object_type: str, object_id: str) -> Node:
    if object_type not in OBJECT_TYPES:
        raise ValueError(f"unknown object type {object_type!r}")
    if not object_id.isdigit():
        raise ApiError(400, f"Invalid object id {object_id!r}", "VALIDATION_ERROR")
    return object_type, int(object_id)


def _offset(after: Any) -> int:
    if after is None:
        return 0
    if not str(after).isdigit():
        raise ApiError(400, f"Invalid after cursor {after!r}", "VALIDATION_ERROR")
    return int(after)


def _json(body: bytes) -> Any:
    try:
        return json.loads(body or b"{}")
    except json.JSONDecodeError as exc:
        raise ApiError(400, f"Invalid input JSON on line {exc.lineno}, column {exc.colno}: "
                       f"{exc.msg}") from None


Endpoint = Callable[[Request], Any]


def routes(sandbox: Any, endpoint: Callable[..., Endpoint]) -> list[Route]:
    """The batch read (through the app's `endpoint` wrapper: stats, faults, auth, limits) and
    the control operations, POST /_sandbox/associations/{associate,dissociate}
    {"from_type", "from_id", "to_type", "to_id"}."""
    graph: AssociationGraph = sandbox.associations
    paths = [f"{prefix}/{{from_type}}/{{to_type}}/batch/read"
             for prefix in prefixes("associations")]

    async def read(_: Any, request: Request) -> Response:
        params = request.path_params
        return JSONResponse(graph.batch_read(params["from_type"], params["to_type"],
                                             _json(await request.body())))

    def control(action: Callable[[str, str, str, str], None]) -> Callable[..., Any]:
        async def handle(request: Request) -> Response:
            try:
                body = json.loads(await request.body() or b"{}")
                action(body["from_type"], str(body["from_id"]), body["to_type"],
                       str(body["to_id"]))
            except (ValueError, TypeError, KeyError, ApiError) as exc:
                return JSONResponse(error_body(str(exc), "VALIDATION_ERROR"), 400)
            return JSONResponse({"ok": True})

        return handle

    return [
        *(Route(path, endpoint(sandbox, "api", "POST " + path, read), methods=["POST"])
          for path in paths),
        Route("/_sandbox/associations/associate", control(graph.associate), methods=["POST"]),
        Route("/_sandbox/associations/dissociate", control(graph.dissociate),
              methods=["POST"]),
    ]
