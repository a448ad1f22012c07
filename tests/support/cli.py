"""The operator CLI in process, as the tests drive it."""

from __future__ import annotations

from typing import Any

from typer.testing import CliRunner

from starter.cli import app

SECRET, REFRESH = "cs-very-secret-1234", "rt-very-secret-5678"
runner = CliRunner()


def cli(*args: str, env: dict[str, str] | None = None, stdin: str | None = None) -> Any:
    return runner.invoke(app, list(args), env=env, input=stdin)


def add(name: str, *extra: str, env: dict[str, str] | None = None) -> Any:
    """`connection add` of a HubSpot connection, its secrets from the environment."""
    secrets = {"TRIBUTARY_CLIENT_SECRET": SECRET, "TRIBUTARY_REFRESH_TOKEN": REFRESH}
    return cli("connection", "add", name, "--provider", "hubspot", "--tenant", "acme",
               "--client-id", "cid", *extra, env={**secrets, **(env or {})})
