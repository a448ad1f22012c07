"""The two path families HubSpot serves the CRM APIs on (shared/api-facts.md, "date-based API
versions"): the legacy `/crm/v3/...` (associations `/crm/v4/...`) and the date-based
`/crm/{api}/2026-03/...`, with the same shapes and behaviour. The sandbox routes every CRM
endpoint on both, so a client on either version sees one portal.
"""

from __future__ import annotations

VERSIONS = ("2026-03", "v3")
LEGACY = {"objects": "v3", "associations": "v4", "properties": "v3"}


def prefixes(api: str) -> tuple[str, ...]:
    """`/crm/objects/2026-03` and `/crm/v3/objects` for api "objects" (likewise the others)."""
    return tuple(f"/crm/{api}/{v}" if v != "v3" else f"/crm/{LEGACY[api]}/{api}" for v in VERSIONS)
