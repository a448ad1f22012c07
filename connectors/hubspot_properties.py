"""A HubSpot portal's properties: what a mapping may read, and what changed upstream.

HubSpot silently ignores a property in `properties=` that the portal does not have (api-facts,
"more objects, archived records, properties"), so a mapping reading a deleted or misspelt
property would sync nulls forever. The portal's list (the properties path of `api_version`) is
read through the connector's `send` (the connection's origin only, `max_response_bytes`, its
timeout) and bounded here: at most MAX_PROPERTIES names of at most MAX_NAME_LENGTH printable
characters.
"""

from __future__ import annotations

import difflib
from typing import Any

import httpx

from connectors.errors import ProviderError
from connectors.http import Call, redacted
from connectors.hubspot import HubSpotConnector
from connectors.hubspot_api import PROVIDER

OPERATION = "properties"
MAX_PROPERTIES = 10_000  # HubSpot allows about 1,000 custom properties per object
MAX_NAME_LENGTH = 200  # what store.schema keeps of a property name
CLOSEST = 3  # close names offered when a mapped property is missing


async def read(connector: HubSpotConnector, client: httpx.AsyncClient, access_token: str,
               stream: str) -> list[str]:
    """The names of the portal's live properties of the stream's object, sorted."""
    url = connector.settings.base_url + connector.settings.paths.properties(stream)
    call = Call(OPERATION, url, params={"archived": "false"})
    try:
        reply = await connector.send(client, access_token, call)
        return live_names(reply.body, stream)
    except ProviderError as exc:
        raise redacted(exc, (access_token,)) from None


def live_names(body: Any, stream: str) -> list[str]:
    """The live property names of a properties answer (`send` checked `results` is a list).

    A name that is not printable text of at most MAX_NAME_LENGTH characters is skipped (no
    mapping can read it); an entry marked archived is not live.
    """
    results = body["results"]
    if len(results) > MAX_PROPERTIES:
        raise ProviderError("validation_error", f"the portal lists {len(results)} {stream} "
                            f"properties, more than the {MAX_PROPERTIES} Tributary keeps",
                            PROVIDER, OPERATION, 200)
    names = set()
    for item in results:
        name = item.get("name") if isinstance(item, dict) else None
        if (isinstance(name, str) and name and len(name) <= MAX_NAME_LENGTH
                and name.isprintable() and item.get("archived") is not True):
            names.add(name)
    return sorted(names)


def refusal(stream: str, wanted: list[str], present: list[str]) -> str | None:
    """One line naming each property the mapping reads that the portal lacks, with the
    closest existing names; None when it has them all."""
    have = set(present)
    missing = [name for name in wanted if name not in have]
    if not missing:
        return None
    parts = []
    for name in missing:
        close = difflib.get_close_matches(name, present, n=CLOSEST)
        hint = f"closest: {', '.join(close)}" if close else "no similar name"
        parts.append(f"{name!r} ({hint})")
    return (f"the {stream} mapping reads propert{'ies' if len(missing) > 1 else 'y'} "
            f"{'; '.join(parts)}, which the HubSpot portal does not have: fix the mapping "
            "(`connection update --config`) or create the property in HubSpot")

