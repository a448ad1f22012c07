"""HubSpot's v4 association batch read: every association of up to 100 records to one other
object type, each record's own `paging` followed.

The batch read returns a record's whole current set (for that pair of object types), so what is
stored for a record and absent from its set has been removed upstream (store.associations).
Only a set read to its end counts: a record whose paging is cut short (`MAX_ROUNDS`, a cursor
that repeats) or that the answer names as an error keeps what is stored, unarchived.

Everything HubSpot sends is bounded: ids and labels cut to their columns, type ids to 32 bits,
results for ids that were not asked about ignored.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from connectors import hubspot_api as api
from connectors.errors import ProviderError
from connectors.http import Call
from connectors.hubspot import HubSpotConnector

log = logging.getLogger("tributary.associations")

OPERATION = "associations"
# Follow-up calls for the records whose associations did not fit one answer: with HubSpot's
# page of 500 per record (UNCERTAIN), a record keeps up to 10,000 associations per object type.
MAX_ROUNDS = 20
ID_CHARS, LABEL_CHARS, CATEGORY_CHARS = 200, 200, 40
MAX_TYPE_ID = 2**31 - 1
# A 207's errors that mean "this record has no such associations", not a failure.
NONE_FOUND = "NO_ASSOCIATIONS_FOUND"


@dataclass(frozen=True)
class Association:
    to_id: str
    type_id: int
    category: str
    label: str | None


@dataclass
class Read:
    """What one batch read found: per record its associations; `complete` the records whose
    whole current set was read (only those may have stored associations archived)."""

    found: dict[str, list[Association]] = field(default_factory=dict)
    complete: set[str] = field(default_factory=set)
    requests: int = 0


Pace = Callable[[], Awaitable[None]]


async def batch_read(connector: HubSpotConnector, client: httpx.AsyncClient, token: str,
                     from_type: str, to_type: str, ids: list[str], pace: Pace) -> Read:
    """The associations of `ids` (at most ASSOCIATION_BATCH) from `from_type` to `to_type`."""
    if len(ids) > api.ASSOCIATION_BATCH:
        raise ValueError(f"at most {api.ASSOCIATION_BATCH} ids per batch read, not {len(ids)}")
    url = connector.settings.base_url + connector.settings.paths.associations_batch_read(
        from_type, to_type)
    read = Read(found={i: [] for i in ids}, complete=set(ids))
    inputs: list[dict[str, str]] = [{"id": i} for i in ids]
    seen_after: dict[str, str] = {}
    for _ in range(MAX_ROUNDS):
        await pace()
        reply = await connector.send(client, token, Call(OPERATION, url, "POST",
                                                          json={"inputs": inputs}))
        read.requests += 1
        inputs = _parse(reply.body, read, seen_after)
        if not inputs:
            return read
    for item in inputs:  # paging went on past MAX_ROUNDS: keep what is stored
        read.complete.discard(item["id"])
        log.warning("%s %s has more %s associations than %d answers hold; stored ones are "
                    "kept", from_type, item["id"], to_type, MAX_ROUNDS)
    return read


def _parse(body: Any, read: Read, seen_after: dict[str, str]) -> list[dict[str, str]]:
    """Add an answer's associations to `read`; return the next round's inputs (paging)."""
    if not isinstance(body, dict) or not isinstance(body.get("results"), list):
        raise ProviderError("server_error", "malformed response: results is not a list",
                            api.PROVIDER, OPERATION)
    for error in body.get("errors") or []:
        _error(error, read)
    follow: list[dict[str, str]] = []
    for result in body["results"]:
        from_id = str((result.get("from") or {}).get("id", ""))
        if from_id not in read.found:
            continue  # not asked about
        for target in result.get("to") or []:
            to_id = str(target["toObjectId"])[:ID_CHARS]
            for kind in target.get("associationTypes") or []:
                read.found[from_id].append(_association(to_id, kind))
        after = ((result.get("paging") or {}).get("next") or {}).get("after")
        if after is None or from_id not in read.complete:
            continue
        after = str(after)[:ID_CHARS]
        if seen_after.get(from_id) == after:  # a cursor that does not move: stop, keep stored
            read.complete.discard(from_id)
            log.warning("association paging of %s repeated its cursor", from_id)
            continue
        seen_after[from_id] = after
        follow.append({"id": from_id, "after": after})
    return follow


def _association(to_id: str, kind: dict[str, Any]) -> Association:
    type_id = int(kind["typeId"])
    if not 0 <= type_id <= MAX_TYPE_ID:
        raise ValueError(f"association type id {type_id} out of range")
    label = kind.get("label")
    return Association(to_id, type_id, str(kind.get("category") or "")[:CATEGORY_CHARS],
                       None if label is None else str(label)[:LABEL_CHARS])


def _error(error: Any, read: Read) -> None:
    """A 207's error names the inputs it is about (`context.fromObjectId`, else `ids`)."""
    if not isinstance(error, dict):
        return
    context = error.get("context")
    if not isinstance(context, dict):
        return
    ids = context.get("fromObjectId") or context.get("ids") or []
    none_found = NONE_FOUND in str(error.get("subCategory") or "")
    for from_id in ids if isinstance(ids, list) else []:
        if str(from_id) in read.found and not none_found:
            read.complete.discard(str(from_id))  # not read: what is stored stays as it is
