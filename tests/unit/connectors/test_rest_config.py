"""REST configurations: mistakes are refused at `connection add` with the offending key named."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from connectors.registry import streams
from connectors.rest_config import load_config
from starter.connections import InvalidConnection, validate
from tests.support.stacks import EXAMPLES

PEOPLE = load_config(EXAMPLES / "people_api.toml")


def _with(path: str, value: Any) -> dict[str, Any]:
    config = copy.deepcopy(PEOPLE)
    *parents, last = path.split(".")
    node = config
    for key in parents:
        node = node[key]
    node[last] = value
    return config


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        ("streams.people.pagination", {"type": "scroll"}, "streams.people.pagination"),
        ("streams.people.pagination", {"type": "cursor", "param": "c"},
         "streams.people.pagination.cursor.cursor_path"),
        ("auth", {"type": "api_key"}, "auth.api_key.name"),
        ("streams.people.cursor_format", "rfc822", "streams.people.cursor_format"),
        ("streams.people.mapping.fields.email.transform", "upper",
         "streams.people.mapping.fields.email.transform"),
        ("streams.people.mapping.fields.first_name",
         {"source": "d", "transform": "datetime", "timezone": "Mars/Base"}, "unknown time zone"),
        ("streams", {}, "streams"),
    ],
)
def test_invalid_configuration_names_the_key(path: str, value: Any, message: str) -> None:
    with pytest.raises(InvalidConnection) as info:
        validate("rest", _with(path, value))
    assert message in str(info.value)


def test_examples_are_valid_and_streams_come_from_the_configuration() -> None:
    for example in sorted(EXAMPLES.iterdir()):
        validate("rest", load_config(example))
    assert streams("rest", PEOPLE) == ("people",)
    assert streams("salesforce", {"base_url": "https://u.example", "client_id": "c"}) == (
        "contacts", "companies", "deals")


def test_the_same_configuration_reads_from_yaml_and_json(tmp_path: Any) -> None:
    import json

    import yaml

    as_yaml = tmp_path / "people.yaml"
    as_yaml.write_text(yaml.safe_dump(PEOPLE))
    as_json = tmp_path / "people.json"
    as_json.write_text(json.dumps(PEOPLE))
    assert load_config(as_yaml) == load_config(as_json) == PEOPLE
    broken = tmp_path / "broken.yaml"
    broken.write_text("auth: [unclosed")
    with pytest.raises(ValueError, match="not valid YAML"):
        load_config(broken)
