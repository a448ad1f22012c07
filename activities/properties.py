"""The portal-properties check before each slice's first page (HubSpot), cached in the database.

Every slice checks, since the slices of a window fetch at once: one that skipped the check
could sync a vanished property as nulls while another parks. They check one at a time per
worker (`_turns`), so the first refreshes a stale list and the others find it fresh.

The list is asked again once it is older than the connection's `properties_every_s` (an hour),
or when the mapping reads a name the cached list lacks (a mapping just changed, or a stream
parked for a missing property and resumed): a no-change cycle within the hour asks nothing.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, TypeGuard

import httpx

from connectors import hubspot_properties
from connectors.hubspot import HubSpotConnector
from infra.times import utcnow
from infra.transactions import Transactions
from store import properties

OPERATION = hubspot_properties.OPERATION
# Per (event loop, connection, stream): a lock belongs to one loop (tests run several).
_turns: dict[tuple[asyncio.AbstractEventLoop, str, str], asyncio.Lock] = {}


@dataclass
class Checked:
    requested: bool = False  # whether the portal was asked
    changes: list[tuple[str, str]] = field(default_factory=list)  # (property, change)
    refusal: str | None = None  # a mapped property the portal lacks, as one line


def checks(connector: Any) -> TypeGuard[HubSpotConnector]:
    """Whether the connection's provider has a property list to check."""
    return isinstance(connector, HubSpotConnector)


async def check(db: Transactions, client: httpx.AsyncClient, connector: HubSpotConnector,
                access_token: str, connection: str, stream: str,
                max_age_s: float | None = None) -> Checked:
    """Check the stream's mapping against the portal's properties (ProviderError when the
    portal cannot be asked). `max_age_s` defaults to the connection's `properties_every_s`."""
    key = (asyncio.get_running_loop(), connection, stream)
    async with _turns.setdefault(key, asyncio.Lock()):
        return await _check(db, client, connector, access_token, connection, stream, max_age_s)


async def _check(db: Transactions, client: httpx.AsyncClient, connector: HubSpotConnector,
                 access_token: str, connection: str, stream: str,
                 max_age_s: float | None) -> Checked:
    wanted = connector.mapped_properties(stream)
    age_limit = timedelta(seconds=connector.settings.properties_every_s
                          if max_age_s is None else max_age_s)
    known = await db.read(properties.cached, connection, stream)
    if known is not None and timedelta(0) <= utcnow() - known.checked_at < age_limit \
            and set(wanted) <= set(known.names):
        return Checked()
    names = await hubspot_properties.read(connector, client, access_token, stream)
    found = await db.write(properties.record, connection, stream, names, utcnow())
    return Checked(True, found, hubspot_properties.refusal(stream, wanted, names))
