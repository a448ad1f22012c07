"""HubSpot property lists: bounded, live names only, refusals naming the closest names, and the
changes between two lists."""

from __future__ import annotations

import pytest

from connectors.errors import ProviderError
from connectors.hubspot_properties import MAX_NAME_LENGTH, MAX_PROPERTIES, live_names, refusal
from store.properties import changes


def test_live_names_skip_archived_malformed_and_overlong_names() -> None:
    body = {"results": [
        {"name": "email"}, {"name": "gone", "archived": True}, {"name": ""}, {"name": 7},
        "not an object", {"label": "no name"}, {"name": "x" * (MAX_NAME_LENGTH + 1)},
        {"name": "bad\x00name"}, {"name": "firstname", "archived": False}, {"name": "email"},
    ]}
    assert live_names(body, "contacts") == ["email", "firstname"]


def test_a_list_past_the_bound_is_refused() -> None:
    body = {"results": [{"name": f"p{i}"} for i in range(MAX_PROPERTIES + 1)]}
    with pytest.raises(ProviderError) as caught:
        live_names(body, "contacts")
    assert caught.value.category == "validation_error"
    assert str(MAX_PROPERTIES) in caught.value.message


def test_refusal_names_each_missing_property_and_the_closest_existing_ones() -> None:
    present = ["email", "firstname", "lastname", "hs_email_domain"]
    assert refusal("contacts", ["email", "firstname"], present) is None
    line = refusal("contacts", ["emial", "firstname", "zzz"], present)
    assert line is not None and "\n" not in line
    assert "'emial' (closest: email" in line
    assert "'zzz' (no similar name)" in line
    assert "'firstname'" not in line  # the portal has it


def test_changes_are_created_then_archived_by_name() -> None:
    assert changes(["a", "b"], ["b", "c", "d"]) == [("c", "created"), ("d", "created"),
                                                      ("a", "archived")]
    assert changes(["a"], ["a"]) == []
