"""Every HubSpot path comes from hubspot_api.Paths, built from the connection's `api_version`."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from connectors.base import PageRequest
from connectors.hubspot import HubSpotConnector
from connectors.hubspot_api import LAST_MODIFIED, HubSpotSettings, Paths

CONNECTORS = Path(__file__).resolve().parents[3] / "connectors"

# Written out from shared/api-facts.md ("date-based API versions", "associations v4").
EXPECTED = {
    "2026-03": {
        "objects": "/crm/objects/2026-03/deals",
        "search": "/crm/objects/2026-03/deals/search",
        "associations": "/crm/associations/2026-03/deals/companies/batch/read",
        "properties": "/crm/properties/2026-03/deals",
    },
    "v3": {
        "objects": "/crm/v3/objects/deals",
        "search": "/crm/v3/objects/deals/search",
        "associations": "/crm/v4/associations/deals/companies/batch/read",
        "properties": "/crm/v3/properties/deals",
    },
}


@pytest.mark.parametrize("version", ["2026-03", "v3"])
def test_paths_of_each_version(version: str) -> None:
    paths = Paths(version)  # type: ignore[arg-type]  # parametrized literal
    assert {
        "objects": paths.objects("deals"),
        "search": paths.search("deals"),
        "associations": paths.associations_batch_read("deals", "companies"),
        "properties": paths.properties("deals"),
    } == EXPECTED[version]
    assert paths.token() == "/oauth/v1/token"  # the same token endpoint on both


def test_settings_default_to_the_dated_version_and_refuse_others() -> None:
    settings = HubSpotSettings(client_id="c")
    assert settings.api_version == "2026-03"
    assert settings.paths == Paths("2026-03")
    assert settings.token_url == "https://api.hubapi.com/oauth/v1/token"
    assert HubSpotSettings(client_id="c", api_version="v3").paths == Paths("v3")
    for bad in ("v4", "2025-09", "2026-03/"):
        with pytest.raises(ValidationError, match="api_version"):
            HubSpotSettings(client_id="c", api_version=bad)


@pytest.mark.parametrize("version", ["2026-03", "v3"])
@pytest.mark.parametrize("stream", ["contacts", "companies", "deals"])
def test_page_calls_use_the_versions_paths(version: str, stream: str) -> None:
    settings = HubSpotSettings(base_url="https://h.test", client_id="c", api_version=version)
    connector = HubSpotConnector(settings, {stream: ["name"]})
    paths = Paths(version)  # type: ignore[arg-type]  # parametrized literal
    full = connector.page_call(PageRequest(stream, "full_refresh", None, 10, None))
    assert (full.method, full.url) == ("GET", f"https://h.test{paths.objects(stream)}")
    search = connector.page_call(PageRequest(stream, "incremental", 5, 10, None))
    assert (search.method, search.url) == ("POST", f"https://h.test{paths.search(stream)}")
    assert search.json is not None
    # The window is filtered and sorted on the object's own last-modified property.
    filters = search.json["filterGroups"][0]["filters"]
    assert {f["propertyName"] for f in filters} == {LAST_MODIFIED[stream]}
    assert search.json["sorts"] == [{"propertyName": LAST_MODIFIED[stream],
                                     "direction": "ASCENDING"}]


def test_the_connector_streams_are_the_three_objects() -> None:
    assert HubSpotConnector.streams == ("contacts", "companies", "deals")


def test_no_crm_path_is_spelled_outside_the_path_builder() -> None:
    spelled = [p.name for p in CONNECTORS.glob("*.py")
               if p.name != "hubspot_api.py" and "/crm/" in p.read_text()]
    assert spelled == []
