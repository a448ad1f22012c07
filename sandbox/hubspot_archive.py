"""Archiving, merging and restoring records of any object type, as HubSpot does (api-facts,
"archived records"), with the /_sandbox control routes that drive them during a sync.

- archive: the record leaves the list endpoint and search; the list endpoint with
  `archived=true` returns it with `archived: true` and `archivedAt` (hubspot_store).
- merge: the losing record is archived the same way; the winner's `hs_merged_object_ids`
  (semicolon-separated ids) gains the loser, and the winner is modified at that instant.
- restore: the record is live again. HubSpot's facts do not say whether a restore bumps the
  last-modified date; the sandbox takes the strictest reading: it does not (the record keeps
  the properties it had, and comes back to a sync with the version it had before the
  archive) until its next change.
"""

from __future__ import annotations

from bisect import insort
from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sandbox.hubspot_errors import ApiError
from sandbox.hubspot_state import HubSpotSandbox

MERGED_IDS = "hs_merged_object_ids"


def archive(sandbox: HubSpotSandbox, object_type: str, ids: list[str]) -> int:
    """Archive live records now; the archive instant (epoch ms)."""
    with sandbox._lock:
        store = sandbox._store(object_type)
        records = [store.live(int(i)) for i in ids]  # validate all before changing any
        stamp = sandbox._stamp(None)
        for record in records:
            store.archive(record, stamp)
        return stamp


def merge(sandbox: HubSpotSandbox, object_type: str, winner: str, loser: str) -> int:
    """Merge `loser` into `winner`: the loser archived, the winner modified; the instant."""
    if winner == loser:
        raise ValueError("a record cannot be merged into itself")
    with sandbox._lock:
        store = sandbox._store(object_type)
        kept, gone = store.live(int(winner)), store.live(int(loser))
        stamp = sandbox._stamp(None)
        merged = [i for i in (kept.properties.get(MERGED_IDS) or "").split(";") if i]
        store.archive(gone, stamp)
        store.touch(kept, stamp, {MERGED_IDS: ";".join([*merged, str(gone.id)])})
        return stamp


def restore(sandbox: HubSpotSandbox, object_type: str, ids: list[str]) -> int:
    """Make archived records live again, with the last-modified instant they have; how many."""
    with sandbox._lock:
        store = sandbox._store(object_type)
        records = [store.records[int(i)] for i in ids]
        if any(r.archived_ms is None for r in records):
            raise ValueError("only archived records can be restored")
        for record in records:
            record.archived_ms = None
            insort(store.by_modified, (record.updated_ms, record.id))
        store.version += 1
        return len(records)


def routes(sandbox: HubSpotSandbox) -> list[Route]:
    """POST /_sandbox/objects/{type}/archive {"ids": [...]}, .../merge {"winner", "loser"},
    .../restore {"ids": [...]}."""

    actions: dict[str, Callable[[str, dict[str, Any]], dict[str, Any]]] = {
        "archive": lambda kind, body: {
            "archived_ms": archive(sandbox, kind, [str(i) for i in body["ids"]])},
        "merge": lambda kind, body: {
            "merged_ms": merge(sandbox, kind, str(body["winner"]), str(body["loser"]))},
        "restore": lambda kind, body: {
            "restored": restore(sandbox, kind, [str(i) for i in body["ids"]])},
    }

    def route(name: str) -> Route:
        async def endpoint(request: Request) -> Response:
            try:
                body = await request.json()
                return JSONResponse(actions[name](request.path_params["object_type"], body))
            except ApiError as exc:
                return JSONResponse(exc.body, exc.status)
            except (ValueError, TypeError, KeyError) as exc:
                return JSONResponse({"error": f"{type(exc).__name__}: {exc}"}, 400)

        return Route(f"/objects/{{object_type}}/{name}", endpoint, methods=["POST"])

    return [route(name) for name in actions]
