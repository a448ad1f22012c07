"""The sandbox's properties endpoint (api-facts: `GET /crm/v3/properties/{objectType}`) and
its control API, over HTTP."""

from __future__ import annotations

import httpx

from sandbox import HubSpotSandbox, SandboxServer


def _token(server: SandboxServer, sandbox: HubSpotSandbox) -> str:
    reply = httpx.post(f"{server.url}/oauth/v1/token", data={
        "grant_type": "refresh_token", "client_id": sandbox.client_id,
        "client_secret": sandbox.client_secret, "refresh_token": sandbox.refresh_token})
    return str(reply.json()["access_token"])


def test_properties_are_listed_created_and_archived() -> None:
    sandbox = HubSpotSandbox(contacts=3)
    with SandboxServer(sandbox) as server:
        url = f"{server.url}/crm/v3/properties/contacts"
        assert httpx.get(url).status_code == 401
        auth = {"Authorization": f"Bearer {_token(server, sandbox)}"}
        results = httpx.get(url, headers=auth).json()["results"]
        email = next(p for p in results if p["name"] == "email")
        assert {"name", "label", "type", "fieldType", "hasUniqueValue", "hubspotDefined",
                "calculated", "archived"} <= set(email)
        assert email["hubspotDefined"] is True and email["archived"] is False

        control = f"{server.url}/_sandbox/properties/contacts"
        assert httpx.post(f"{control}/create", json={"name": "tier"}).status_code == 200
        tier = next(p for p in httpx.get(url, headers=auth).json()["results"]
                    if p["name"] == "tier")
        assert "hubspotDefined" not in tier  # custom: absent
        # A HubSpot-defined property cannot be archived; a custom one can.
        assert httpx.post(f"{control}/archive", json={"name": "email"}).status_code == 400
        assert httpx.post(f"{control}/archive", json={"name": "tier"}).status_code == 200
        live = {p["name"] for p in httpx.get(url, headers=auth).json()["results"]}
        assert "tier" not in live and "email" in live
        archived = httpx.get(url, headers=auth, params={"archived": "true"}).json()["results"]
        assert [(p["name"], p["archived"], "archivedAt" in p) for p in archived] == [
            ("tier", True, True)]
        # The 2026-03 path serves the same list; an unknown object type is a 404.
        same = httpx.get(f"{server.url}/crm/properties/2026-03/contacts", headers=auth)
        assert {p["name"] for p in same.json()["results"]} == live
        assert httpx.get(f"{server.url}/crm/v3/properties/widgets",
                         headers=auth).status_code == 404
