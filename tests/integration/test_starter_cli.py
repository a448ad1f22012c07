"""The operator CLI: clear one-line errors, secrets never echoed, status without Temporal."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from temporalio.testing import WorkflowEnvironment

from store.db import engine
from store.schema import connections
from tests.support.cli import REFRESH, SECRET, add, cli
from tests.support.network import closed_port
from tests.support.polling import until
from tests.support.processes import ROOT
from workflows.names import workflow_id


def assert_clean_failure(result: Any, code: int, message: str) -> None:
    assert result.exit_code == code, result.output
    assert message in result.output
    assert "Traceback" not in result.output
    assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit)


def test_add_from_env_list_and_remove(database_url: str) -> None:
    result = add("acme", "--base-url", "https://crm.test")
    assert result.exit_code == 0, result.output
    listed = cli("connection", "list")
    assert "acme" in listed.output and "https://crm.test" in listed.output
    for output in (result.output, listed.output):
        assert SECRET not in output and REFRESH not in output
    with engine().connect() as conn:
        stored = conn.execute(select(connections.c.config)).scalar_one()
    assert SECRET not in json.dumps(stored)

    assert cli("connection", "remove", "acme", "--yes").exit_code == 0
    assert "acme" not in cli("connection", "list").output


def test_add_from_secrets_file_and_update_from_prompt(database_url: str, tmp_path: Path) -> None:
    secrets = tmp_path / "secrets.json"
    secrets.write_text(json.dumps({"client_secret": SECRET, "refresh_token": REFRESH}))
    result = cli("connection", "add", "filed", "--provider", "hubspot", "--tenant", "t",
                 "--client-id", "cid", "--secrets-file", str(secrets))
    assert result.exit_code == 0, result.output
    assert SECRET not in result.output

    updated = cli("connection", "update", "filed", "--base-url", "https://new.test",
                  "--reauthorize", stdin="new-secret-abc\nnew-refresh-def\n")
    assert updated.exit_code == 0, updated.output
    assert "new-secret-abc" not in updated.output  # hidden prompt: typed, never echoed
    assert "https://new.test" in cli("connection", "list").output


def test_bad_settings_are_refused_with_one_clear_line(database_url: str, tmp_path: Path) -> None:
    config = tmp_path / "settings.json"
    config.write_text(json.dumps({"list_page_size": 500}))
    assert_clean_failure(add("bad", "--config", str(config)), 2, "list_page_size")
    assert_clean_failure(
        cli("connection", "add", "x", "--provider", "nope", "--tenant", "t"), 2,
        "unknown provider 'nope'")
    add("dup")
    assert_clean_failure(add("dup"), 2, "already exists")
    assert_clean_failure(cli("connection", "remove", "ghost", "--yes"), 2,
                         "unknown connection 'ghost'")


def test_status_json_from_the_database_when_temporal_is_down(database_url: str) -> None:
    add("quiet")
    result = cli("status", "--json", env={"TEMPORAL_ADDRESS": closed_port()})
    assert result.exit_code == 0, result.output
    assert "Temporal unreachable at" in result.stderr
    rows = json.loads(result.stdout)
    assert sorted(rows, key=lambda row: row["stream"]) == [{
        "connection": "quiet", "stream": stream, "health": "yellow",
        "last_success_at": None, "watermark": None, "lag_seconds": None, "records_synced": 0,
        "records_synced_24h": 0, "records_rejected": 0, "errors_by_category": {},
        "rate_limit_waits": 0, "token_refreshes": 0, "rate_limited_until": None,
        "provider_usage": None, "last_error": None, "deletes_reconciled_at": None,
        "deletes_archived_last": None, "deletes_archived_total": None, "schema_changes": [],
    } for stream in ("companies", "contacts", "deals")]  # every HubSpot stream, never synced


def test_sync_commands_refuse_unknown_connections_and_bad_input(database_url: str) -> None:
    env = {"TEMPORAL_ADDRESS": closed_port()}
    assert_clean_failure(cli("sync", "start", "ghost", "contacts", env=env), 2,
                         "unknown connection 'ghost'")
    add("real")
    assert_clean_failure(cli("sync", "start", "real", "tickets", env=env), 2,
                         "no stream 'tickets'")
    assert_clean_failure(cli("sync", "start", "real", "contacts", "--every", "5x", env=env), 2,
                         "every must look like")
    assert_clean_failure(
        cli("sync", "backfill", "real", "contacts", "--since", "2025-02-01", "--until",
            "2025-01-01", env=env), 2, "until must be after since")
    assert_clean_failure(cli("sync", "start", "real", "contacts", env=env), 1,
                         "Temporal unreachable at")


def test_module_entry_point_exits_cleanly_on_a_user_mistake(database_url: str) -> None:
    env = {**os.environ, "TEMPORAL_ADDRESS": closed_port()}
    done = subprocess.run(
        [sys.executable, "-m", "starter", "sync", "pause", "ghost", "contacts"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 2
    assert "unknown connection 'ghost'" in done.stderr
    assert "Traceback" not in done.stderr + done.stdout


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_second_start_of_a_running_sync_is_refused(
    temporal: WorkflowEnvironment, make_stack: Any
) -> None:
    stack = make_stack(contacts=50)
    env = {"TEMPORAL_ADDRESS": temporal.client.service_client.config.target_host}
    args = ("sync", "start", stack.connection, "contacts", "--every", "1h")
    first = await asyncio.to_thread(cli, *args, env=env)
    assert first.exit_code == 0, first.output
    second = await asyncio.to_thread(cli, *args, env=env)
    assert_clean_failure(
        second, 1, f"a sync of {stack.connection}/contacts is already running "
        f"(workflow {workflow_id(stack.connection, 'contacts')})")

    status = await asyncio.to_thread(cli, "status", "--json", env=env)
    [row] = [r for r in json.loads(status.stdout)
             if (r["connection"], r["stream"]) == (stack.connection, "contacts")]
    assert row["live"]["state"] in {"starting", "syncing", "sleeping"}

    # Without a stream, a signal reaches every running sync of the connection, found by its
    # search attribute once the workflow has tagged itself (visibility is eventually consistent).
    async def pause() -> Any:
        paused = await asyncio.to_thread(cli, "sync", "pause", stack.connection, env=env)
        return paused if paused.exit_code == 0 else None

    paused = await until(pause, 20, "a pause that reaches the sync", interval=0.2)
    assert f"signalled pause to {workflow_id(stack.connection, 'contacts')}" in paused.output
    handle = temporal.client.get_workflow_handle(workflow_id(stack.connection, "contacts"))
    assert (await handle.query("status"))["paused"] is True


def test_api_key_connection_from_a_toml_file_asks_for_no_refresh_token(
    database_url: str,
) -> None:
    from pathlib import Path

    from store import vault
    from store.db import engine

    example = Path(__file__).resolve().parents[2] / "connectors" / "examples" / "people_api.toml"
    # Only the key is given: a prompt for a refresh token would abort without stdin.
    result = cli("connection", "add", "people", "--provider", "rest", "--tenant", "acme",
                 "--config", str(example), env={"TRIBUTARY_CLIENT_SECRET": SECRET})
    assert result.exit_code == 0, result.output
    assert SECRET not in result.output
    with engine().connect() as conn:
        stored = vault.load(conn, "people").secrets
    assert (stored.client_secret, stored.refresh_token) == (SECRET, "")
