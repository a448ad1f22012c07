"""A REST stream's record identity has one source: its `primary_key` is the mapping's `id`."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from connectors.mapping import record_id
from connectors.registry import build
from connectors.rest_config import load_config
from starter.connections import InvalidConnection, validate
from tests.support.stacks import EXAMPLES

PEOPLE = load_config(EXAMPLES / "people_api.toml")
RECORD = {"id": 7, "uuid": "u-7", "email": "a@example.com", "updated_at": "2026-01-01T00:00:00Z"}


def _config(primary_key: str | None, mapping_id: str | None = None,
            override: dict[str, Any] | None = None) -> dict[str, Any]:
    config = copy.deepcopy(PEOPLE)
    stream = config["streams"]["people"]
    stream.pop("primary_key", None)
    if primary_key is not None:
        stream["primary_key"] = primary_key
    stream["mapping"].pop("id")
    if mapping_id is not None:
        stream["mapping"]["id"] = mapping_id
    if override is not None:
        config["mappings"] = {"people": override}
    return config


@pytest.mark.parametrize("mapping_id", [None, "uuid"])
def test_primary_key_is_the_record_id(mapping_id: str | None) -> None:
    _, mappings = build("rest", _config("uuid", mapping_id))
    assert record_id(mappings["people"], RECORD) == "u-7"


def test_an_override_takes_the_primary_key_too() -> None:
    override = copy.deepcopy(PEOPLE["streams"]["people"]["mapping"])
    override.pop("id")
    _, mappings = build("rest", _config("uuid", override=override))
    assert record_id(mappings["people"], RECORD) == "u-7"


def test_two_identities_are_refused() -> None:
    with pytest.raises(InvalidConnection) as info:
        validate("rest", _config("uuid", "id"))
    assert "primary_key" in str(info.value)
    override = copy.deepcopy(PEOPLE["streams"]["people"]["mapping"])
    with pytest.raises(InvalidConnection) as info:
        validate("rest", _config("uuid", override=override))  # the override says `id`
    assert "mappings.people.id" in str(info.value)


def test_without_a_primary_key_each_mapping_names_its_id() -> None:
    # Configurations written before primary_key did anything keep working as they were.
    _, mappings = build("rest", _config(None, "uuid"))
    assert record_id(mappings["people"], RECORD) == "u-7"
    override = copy.deepcopy(PEOPLE["streams"]["people"]["mapping"])  # it says `id`
    _, mappings = build("rest", _config(None, "uuid", override=override))
    assert record_id(mappings["people"], RECORD) == "7"
    _, mappings = build("rest", _config(None))
    assert record_id(mappings["people"], RECORD) == "7"  # the mapping's default id
