"""A connector's token refresh for tests that hold no HTTP client of their own."""

from __future__ import annotations

from typing import Any

import httpx

from connectors.base import TokenGrant


async def refresh(connector: Any, client_secret: str, refresh_token: str) -> TokenGrant:
    async with httpx.AsyncClient() as client:
        grant: TokenGrant = await connector.refresh(client, client_secret, refresh_token)
    return grant
