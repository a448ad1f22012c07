"""Operator input through the real worker and Temporal: what reaches a workflow's history, and
what a connection's settings may change, end to end."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import WorkflowFailureError

from starter import connections as connection_service
from store import connections
from store.db import engine
from store.vault import Secrets
from tests.support.cli import cli
from workflows.names import WORKFLOW_QUEUE, WORKFLOW_TYPE

NO_SECRETS: dict[str, str | None] = {"TRIBUTARY_CLIENT_SECRET": None,
                                     "TRIBUTARY_REFRESH_TOKEN": None}


async def _failure(client: Any, params: dict[str, Any], wid: str) -> tuple[str, str]:
    """(the failure's message, the whole history as JSON) of a sync that fails fast."""
    handle = await client.start_workflow(WORKFLOW_TYPE, params, id=wid, task_queue=WORKFLOW_QUEUE)
    with pytest.raises(WorkflowFailureError) as info:
        await asyncio.wait_for(handle.result(), timeout=60)
    cause = info.value.cause
    history = await handle.fetch_history()
    return str(getattr(cause, "message", cause)), history.to_json()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_an_unknown_connection_names_no_other_in_the_history(make_stack: Any) -> None:
    stack = make_stack(contacts=1)
    connection_service.add("globex-secret-project", "hubspot", "globex",
                           {"client_id": "c"}, Secrets("s", "r"))
    message, history = await _failure(stack.client, {"connection": "ghost", "stream": "contacts"},
                                       "sync/ghost/contacts")
    assert "unknown connection 'ghost'" in message
    assert "unknown connection 'ghost'" in history
    for other in (stack.connection, "globex-secret-project", "globex"):
        assert other not in history


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_stored_settings_with_a_metadata_url_never_reach_the_network(
    make_stack: Any
) -> None:
    """A configuration written around the CLI (a restored backup, a script) is validated when
    the worker loads it: the sync fails fast and no request leaves."""
    stack = make_stack(contacts=5)
    with engine().begin() as conn:
        config = connections.get(conn, stack.connection).config
        connections.set_config(conn, stack.connection,
                               {**config, "token_url": "http://169.254.169.254/latest/token"})
    message, _ = await _failure(stack.client, {"connection": stack.connection,
                                               "stream": "contacts"}, stack.workflow_id)
    assert "misconfigured" in message and "cloud metadata address" in message
    assert stack.server.requests == []


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_changed_settings_keep_the_credentials_the_next_sync_uses(
    make_stack: Any, tmp_path: Path
) -> None:
    stack = make_stack(contacts=30)
    config = tmp_path / "pages.json"
    config.write_text(json.dumps({"list_page_size": 10}))
    updated = cli("connection", "update", stack.connection, "--config", str(config),
                  env=NO_SECRETS)  # nothing on stdin: a prompt would abort
    assert updated.exit_code == 0, updated.output
    summary = await stack.sync()
    # The stored refresh token still works, and the new page size is the one used.
    assert summary["token_refreshes"] == 1 and summary["pages"] == 3
    stack.assert_destination_equals_sandbox()
