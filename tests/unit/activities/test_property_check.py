"""The portal-properties check on a real database and the sandbox app: asked once, trusted for
`properties_every_s`, asked again when the mapping reads a name the cached list lacks."""

from __future__ import annotations

from typing import Any

import httpx

from activities import properties
from connectors.hubspot_api import Paths
from connectors.mapping import default_mapping
from connectors.registry import build
from infra.transactions import Transactions
from sandbox import HubSpotSandbox
from sandbox.hubspot_app import create_app
from sandbox.hubspot_properties import portal
from store.db import engine

BASE_URL = "https://hubspot.invalid"  # never resolved: the client's transport is the sandbox app


def _connector(sandbox: HubSpotSandbox, **fields: dict[str, Any]) -> Any:
    mapping = default_mapping("hubspot", "contacts").model_dump(exclude_none=True)
    mapping["fields"].update(fields)
    return build("hubspot", {"base_url": BASE_URL, "client_id": sandbox.client_id,
                             "mappings": {"contacts": mapping}})[0]


async def test_the_list_is_asked_once_then_again_for_a_name_it_lacks(database_url: str) -> None:
    sandbox = HubSpotSandbox(contacts=3)
    _, grant = sandbox.exchange_refresh_token({
        "grant_type": "refresh_token", "client_id": sandbox.client_id,
        "client_secret": sandbox.client_secret, "refresh_token": sandbox.refresh_token})
    token, db = grant["access_token"], Transactions(engine())
    plain, tiered = _connector(sandbox), _connector(
        sandbox, lifecycle_stage={"source": "properties.tier"})
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(sandbox))) as client:
        async def check(connector: Any, **options: Any) -> properties.Checked:
            return await properties.check(db, client, connector, token, "c", "contacts",
                                          **options)

        assert (await check(plain)) == properties.Checked(True, [], None)  # the baseline
        assert (await check(plain)) == properties.Checked()  # trusted: nothing asked
        refused = await check(tiered)  # a name the list lacks: asked again, refused
        assert refused.requested and refused.refusal and "'tier'" in refused.refusal
        portal(sandbox).create("contacts", "tier")
        assert (await check(tiered)) == properties.Checked(True, [("tier", "created")], None)
        portal(sandbox).archive("contacts", "tier")
        assert (await check(plain)) == properties.Checked()  # plain does not read it
        gone = await check(plain, max_age_s=0)
        assert gone == properties.Checked(True, [("tier", "archived")], None)
    assert sandbox.stats["endpoints"][f"GET {Paths().properties('contacts')}"] == 4
