"""HubSpot's API facts (shared/api-facts.md) and a connection's settings, as tables."""

from __future__ import annotations

from pydantic import Field

from connectors.base import DAY_S, HttpSettings
from connectors.errors import Category
from connectors.headroom import PACE_SHARE
from connectors.http import STATUS_CATEGORIES
from connectors.urls import Url

API_VERSION = "v3"  # the one place the CRM API version is pinned
PROVIDER = "hubspot"
LAST_MODIFIED = {"contacts": "lastmodifieddate", "companies": "hs_lastmodifieddate",
                 "deals": "hs_lastmodifieddate"}
DEFAULT_INTERVAL_S = 10.0  # the documented ten-second rolling window
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
# Associations each stream reads for its records (one direction per read: HubSpot keeps a
# type id per direction, e.g. contact->company 1 and company->contact 2).
ASSOCIATED: dict[str, tuple[str, ...]] = {"contacts": ("companies", "deals"),
                                          "companies": ("contacts", "deals"),
                                          "deals": ("contacts", "companies")}
ASSOCIATION_BATCH = 100  # ids per v4 batch read (HubSpot capped it at 100 in 2024)


def association_batch_read_path(from_type: str, to_type: str) -> str:
    """The v4 association batch read (the lead folds it into the version-aware builder)."""
    return f"/crm/v4/associations/{from_type}/{to_type}/batch/read"


# 477: HubSpot's "migration in progress", retried like a server error.
STATUSES: dict[int, Category] = {**STATUS_CATEGORIES, 477: "server_error"}


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
    # Read each window's records' associations (connectors.hubspot_associations).
    associations: bool = True
    # How often every record's associations are read again, to catch removals that do not
    # change the records (docs/CONNECTORS.md, "Associations"); None: never.
    associations_reconcile_every_s: int | None = Field(DAY_S, ge=1, le=366 * DAY_S)
