"""HubSpot's API facts (shared/api-facts.md) and a connection's settings, as tables."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import Field

from connectors.base import DAY_S, HttpSettings
from connectors.errors import Category
from connectors.headroom import PACE_SHARE
from connectors.http import STATUS_CATEGORIES
from connectors.urls import Url

PROVIDER = "hubspot"
LAST_MODIFIED = {"contacts": "lastmodifieddate", "companies": "hs_lastmodifieddate",
                 "deals": "hs_lastmodifieddate"}
# The deletes pass (connectors.hubspot.fetch_archived): how often, and its bounds.
DELETES_EVERY_S = 3600
DELETES_EVERY_BOUNDS_S = (60, 7 * 86400)
DEFAULT_INTERVAL_S = 10.0  # the documented ten-second rolling window
# A portal's property list, cached, is asked again after this (connectors.hubspot_properties).
PROPERTIES_EVERY_S = 3600
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


# 477: HubSpot's "migration in progress", retried like a server error.
STATUSES: dict[int, Category] = {**STATUS_CATEGORIES, 477: "server_error"}

ApiVersion = Literal["2026-03", "v3"]
# The date-based version (GA 2026-03-30, supported >= 18 months); the legacy /crm/v3 and
# /crm/v4 paths lose support in September 2027.
DEFAULT_API_VERSION: ApiVersion = "2026-03"
# Both versions keep the v1 token endpoint (deprecated 2027-02-16, /oauth/2026-03/token then).
TOKEN_PATH = "/oauth/v1/token"
# The legacy family names the version before the API, and associations are on v4.
LEGACY_VERSIONS = {"objects": "v3", "associations": "v4", "properties": "v3"}


@dataclass(frozen=True)
class Paths:
    """Every HubSpot CRM path, built from the connection's `api_version`: the one place."""

    version: ApiVersion = DEFAULT_API_VERSION

    def _crm(self, api: str) -> str:
        if self.version == "v3":
            return f"/crm/{LEGACY_VERSIONS[api]}/{api}"
        return f"/crm/{api}/{self.version}"

    def objects(self, object_type: str) -> str:
        return f"{self._crm('objects')}/{object_type}"

    def search(self, object_type: str) -> str:
        return f"{self.objects(object_type)}/search"

    def associations_batch_read(self, from_type: str, to_type: str) -> str:
        return f"{self._crm('associations')}/{from_type}/{to_type}/batch/read"

    def properties(self, object_type: str) -> str:
        return f"{self._crm('properties')}/{object_type}"

    def token(self) -> str:
        return TOKEN_PATH


class HubSpotSettings(HttpSettings):
    """A HubSpot connection's non-secret settings (defaults point at the real HubSpot)."""

    base_url: Url = "https://api.hubapi.com"
    token_url: Url = "https://api.hubapi.com" + TOKEN_PATH
    client_id: str = Field(min_length=1)
    api_version: ApiVersion = DEFAULT_API_VERSION
    list_page_size: int = Field(100, ge=1, le=100)
    search_page_size: int = Field(200, ge=1, le=200)
    # HubSpot's documented private-app burst limit is 100 requests per 10 seconds.
    requests_per_second: float | None = Field(10.0 * PACE_SHARE, gt=0, le=10_000)
    # Search has its own limit (5 per second per account, outside the ten-second one): a
    # little under it, since the Temporal server lets an idle key burst for one second.
    search_requests_per_second: float = Field(4.0, gt=0, le=10_000)
    # How often each stream walks the archived records to soft-delete their rows (a pass
    # costs one list request per 100 archived records; HubSpot keeps them 90 days).
    deletes_every_s: int = Field(DELETES_EVERY_S, ge=DELETES_EVERY_BOUNDS_S[0],
                                 le=DELETES_EVERY_BOUNDS_S[1])
    # How long the portal's property list is trusted before it is asked again (0: not at all).
    properties_every_s: int = Field(PROPERTIES_EVERY_S, ge=0, le=86_400)

    @property
    def paths(self) -> Paths:
        return Paths(self.api_version)
    # Read each window's records' associations (connectors.hubspot_associations).
    associations: bool = True
    # How often every record's associations are read again, to catch removals that do not
    # change the records (docs/CONNECTORS.md, "Associations"); None: never.
    associations_reconcile_every_s: int | None = Field(DAY_S, ge=1, le=366 * DAY_S)
