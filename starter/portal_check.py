"""At `connection add`: the provider asked, with the credentials given, whether the mappings read
properties it has (HubSpot). A mapping reading one it lacks is refused; a provider that cannot
be asked (down, unreachable, refusing the credentials) leaves the check to the first sync."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx

from activities import properties
from connectors import hubspot_properties
from connectors.base import UnusableGrant
from connectors.errors import ProviderError
from connectors.registry import build


@dataclass
class PortalCheck:
    names: dict[str, list[str]] = field(default_factory=dict)  # per stream, as read
    refusals: list[str] = field(default_factory=list)
    warning: str | None = None
    refresh_token: str | None = None  # the one the token endpoint returned (it may rotate)


def _not_checked(error: ProviderError) -> str:
    return (f"the portal's properties were not checked ({error.category}: {error.message}); "
            "each sync checks them before its first page")


async def check_portal(provider: str, config: dict[str, Any], client_secret: str,
                       refresh_token: str) -> PortalCheck | None:
    """None when the provider has no property list to check."""
    connector, _ = build(provider, config)
    if not properties.checks(connector):
        return None
    async with httpx.AsyncClient() as client:
        try:
            grant = await connector.refresh(client, client_secret, refresh_token)
        except UnusableGrant as exc:
            return PortalCheck(warning=_not_checked(exc.error), refresh_token=exc.refresh_token)
        except ProviderError as exc:
            return PortalCheck(warning=_not_checked(exc))
        result = PortalCheck(refresh_token=grant.refresh_token)
        for stream in connector.streams:
            try:
                names = await hubspot_properties.read(connector, client, grant.access_token,
                                                      stream)
            except ProviderError as exc:
                result.warning = _not_checked(exc)
                continue
            result.names[stream] = names
            refusal = hubspot_properties.refusal(stream, connector.mapped_properties(stream),
                                                 names)
            if refusal is not None:
                result.refusals.append(refusal)
    return result
