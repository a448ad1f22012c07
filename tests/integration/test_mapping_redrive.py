"""Mapping errors land in rejected records and are re-driven after a fix, without refetching."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from sandbox.rest_example import PeopleApi
from starter import connections as connection_service
from starter.cli import app
from tests.support import expected

runner = CliRunner()


async def test_rejected_records_are_redriven_after_a_mapping_fix(rest_stack: Any) -> None:
    api = PeopleApi(people=60, invalid=4)
    stack = rest_stack("people", api)
    summary = await stack.sync("people")
    rejected = stack.rejected("people")
    assert summary["rejected"] == 4 and len(rejected) == 4
    assert all("not an email address" in error for error in rejected.values())
    listed = runner.invoke(app, ["rejected", "list", "--connection", stack.connection, "--json"])
    assert listed.exit_code == 0, listed.output
    assert {r["external_id"] for r in json.loads(listed.output)} == set(rejected)

    # Retrying with the same mapping changes nothing.
    same = runner.invoke(app, ["rejected", "retry", stack.connection])
    assert same.exit_code == 0 and "0 accepted" in same.output and "4 still rejected" in same.output

    # The fix: this org keeps free-text emails; keep them lower-cased rather than reject them.
    fixed = stack.mapping("people").model_dump(exclude_defaults=True)
    fixed["fields"]["email"] = {"source": "email", "transform": "lower", "required": True}
    connection_service.update(stack.connection, {"mappings": {"people": fixed}}, None)
    stack.expect["people"] = lambda record: expected.person(record, free_text_email=True)
    requests_before = api.requests

    result = runner.invoke(app, ["rejected", "retry", stack.connection, "--stream", "people"])
    assert result.exit_code == 0, result.output
    assert "4 accepted" in result.output and "0 still rejected" in result.output
    assert stack.rejected("people") == {}
    destination = stack.destination("people")
    assert {destination[i]["email"] for i in rejected} == {"not-an-email"}
    assert api.requests == requests_before  # the provider was not called
    stack.assert_destination_equals_sandbox("people")


def test_an_invalid_mapping_is_refused_by_connection_add(tmp_path: Path, database_url: str) -> None:
    config = tmp_path / "config.json"
    bad = {"entity": "contacts", "id": "Id", "updated_at": "SystemModstamp",
           "fields": {"email": {"source": "Email", "transform": "email", "required": True},
                      "lifecycle_stage": {"source": "Stage", "transform": "enum"}}}
    config.write_text(json.dumps({"base_url": "https://acme.my.salesforce.com",
                                  "client_id": "c", "mappings": {"contacts": bad}}))
    result = runner.invoke(app, ["connection", "add", "acme-sf", "--tenant", "acme",
                                 "--provider", "salesforce", "--config", str(config)],
                           env={"TRIBUTARY_CLIENT_SECRET": "s", "TRIBUTARY_REFRESH_TOKEN": "r"})
    assert result.exit_code == 2
    assert "mappings.contacts.fields.lifecycle_stage" in result.output
    assert "enum transform needs `values`" in result.output
    listed = runner.invoke(app, ["connection", "list"])
    assert "acme-sf" not in listed.output
