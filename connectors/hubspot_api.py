"""HubSpot's API facts (shared/api-facts.md) and a connection's settings, as tables."""

from __future__ import annotations

from pydantic import Field

from connectors.base import HttpSettings
from connectors.errors import Category
from connectors.headroom import PACE_SHARE
from connectors.http import STATUS_CATEGORIES
from connectors.urls import Url

API_VERSION = "v3"  # the one place the CRM API version is pinned
PROVIDER = "hubspot"
LAST_MODIFIED = {"contacts": "lastmodifieddate", "companies": "hs_lastmodifieddate",
                 "deals": "hs_lastmodifieddate"}
DEFAULT_INTERVAL_S = 10.0
# A portal's property list, cached, is asked again after this (connectors.hubspot_properties).
PROPERTIES_EVERY_S = 3600  # the documented ten-second rolling window
LOCKED_RETRY_S = 2.0  # 423: an object another request holds
CATEGORIES: dict[str, Category] = {
    "EXPIRED_AUTHENTICATION": "auth_failure",
    "INVALID_AUTHENTICATION": "auth_failure",
    "MISSING_SCOPES": "auth_failure",
    "RATE_LIMIT": "rate_limited",
    "RATE_LIMITS": "rate_limited",
    "VALIDATION_ERROR": "validation_error",
    "OBJECT_NOT_FOUND": "validation_error",
    "CONFLICT": "conflict",
    "OBJECT_ALREADY_EXISTS": "conflict",
}
# 477: HubSpot's "migration in progress", retried like a server error.
STATUSES: dict[int, Category] = {**STATUS_CATEGORIES, 477: "server_error"}


def properties_path(object_type: str) -> str:
    """The portal's properties of an object type (`GET /crm/v3/properties/{objectType}`)."""
    return f"/crm/{API_VERSION}/properties/{object_type}"


class HubSpotSettings(HttpSettings):
    """A HubSpot connection's non-secret settings (defaults point at the real HubSpot)."""

    base_url: Url = "https://api.hubapi.com"
    token_url: Url = "https://api.hubapi.com/oauth/v1/token"
    client_id: str = Field(min_length=1)
    list_page_size: int = Field(100, ge=1, le=100)
    search_page_size: int = Field(200, ge=1, le=200)
    # HubSpot's documented private-app burst limit is 100 requests per 10 seconds.
    requests_per_second: float | None = Field(10.0 * PACE_SHARE, gt=0, le=10_000)
    # Search has its own limit (5 per second per account, outside the ten-second one): a
    # little under it, since the Temporal server lets an idle key burst for one second.
    search_requests_per_second: float = Field(4.0, gt=0, le=10_000)
    # How long the portal's property list is trusted before it is asked again (0: not at all).
    properties_every_s: int = Field(PROPERTIES_EVERY_S, ge=0, le=86_400)
