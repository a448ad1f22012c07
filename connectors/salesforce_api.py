"""Salesforce's API facts (shared/api-facts.md), a connection's settings and its mapping rules."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, model_validator

from connectors.base import DAY_S, HttpSettings
from connectors.errors import Category
from connectors.mapping import Mapping
from connectors.urls import Url

PROVIDER = "salesforce"
SOBJECTS = {"contacts": "Contact", "companies": "Account", "deals": "Opportunity"}
KEYSET_FIELDS = {"Id", "SystemModstamp", "IsDeleted"}  # what every SELECT list reads
FIELD_PATH = re.compile(r"^[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z][A-Za-z0-9_]*)*$")
RECORD_ID = re.compile(r"^[A-Za-z0-9]{15,18}$")
# At most 15 digits each (headroom.MAX_DIGITS): longer is no count Salesforce means.
LIMIT_INFO = re.compile(r"api-usage=(\d{1,15})/(\d{1,15})(?!\d)")
# A nextRecordsUrl is a path of the REST API: no `..` segment, nothing but path characters.
NEXT_RECORDS = re.compile(r"^(?!.*/\.\.(?:/|$))/services/data/[A-Za-z0-9._~/-]*$")
CONCURRENT_LIMIT_RETRY_S = 30.0  # REQUEST_LIMIT_EXCEEDED that is not the daily allowance
CATEGORIES: dict[str, Category] = {
    "INVALID_SESSION_ID": "auth_failure",
    "INSUFFICIENT_ACCESS": "auth_failure",
    "API_DISABLED_FOR_ORG": "auth_failure",
    "REQUEST_LIMIT_EXCEEDED": "rate_limited",
    "MALFORMED_QUERY": "validation_error",
    "INVALID_FIELD": "validation_error",
    "INVALID_TYPE": "validation_error",
    "INVALID_QUERY_LOCATOR": "validation_error",
    "QUERY_TIMEOUT": "timeout",
    "UNABLE_TO_LOCK_ROW": "conflict",
    "SERVER_UNAVAILABLE": "server_error",
    "UNKNOWN_EXCEPTION": "server_error",
}
# Salesforce names its errors in the body: only these statuses outrank the code.
STATUSES: dict[int, Category] = {401: "auth_failure", 408: "timeout", 504: "timeout"}


class SalesforceSettings(HttpSettings):
    """A Salesforce connection's non-secret settings.

    Secrets: with `credential_type = "refresh_token"` the vault holds the connected app's client
    secret and the refresh token; with `"jwt_bearer"` its client secret field holds the PEM
    private key whose certificate is uploaded to the connected app (no refresh token).
    """

    base_url: Url = Field(description="the org's instance URL")
    token_url: Url = "https://login.salesforce.com/services/oauth2/token"
    client_id: str = Field(min_length=1)
    api_version: str = Field("v62.0", pattern=r"^v\d{2,3}\.0$")  # the one place it is pinned
    credential_type: Literal["refresh_token", "jwt_bearer"] = "refresh_token"
    username: str | None = None  # the JWT subject
    audience: str = "https://login.salesforce.com"
    # The org's session timeout (Setup > Session Settings): how long an access token lives.
    session_timeout_s: int = Field(7200, ge=1, le=DAY_S)  # Salesforce's longest: 24 hours
    batch_size: int = Field(2000, ge=200, le=2000)
    # TotalRequests is a rolling 24-hour allowance: wait this long before asking again.
    request_limit_retry_s: float = Field(900.0, ge=1, le=DAY_S)

    @model_validator(mode="after")
    def _consistent(self) -> SalesforceSettings:
        if self.credential_type == "jwt_bearer" and not self.username:
            raise ValueError("the jwt_bearer credential type needs `username` (the JWT subject)")
        if self.refresh_margin_s >= self.session_timeout_s:
            raise ValueError("refresh_margin_s must be shorter than session_timeout_s")
        return self


class SalesforceMapping(Mapping):
    """A mapping whose source paths are SOQL field paths (they become the SELECT list)."""

    @model_validator(mode="after")
    def _soql_fields(self) -> SalesforceMapping:
        bad = [p for p in self.source_paths() if not FIELD_PATH.match(p)]
        if bad:
            raise ValueError(f"not SOQL field names: {bad}")
        return self
