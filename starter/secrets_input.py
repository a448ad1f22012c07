"""Where a connection's secrets come from: a file, the environment, or a hidden prompt.

Never from argv: command lines end up in shell history and `ps` output.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import typer

from starter.errors import USAGE, CliError
from store.vault import Secrets

FIELDS = {"client_secret": "TRIBUTARY_CLIENT_SECRET", "refresh_token": "TRIBUTARY_REFRESH_TOKEN"}


def _from_file(path: Path) -> dict[str, str]:
    try:
        data = json.loads(path.read_text())
    except OSError as exc:
        raise CliError(f"cannot read secrets file {path}: {exc.strerror}", USAGE) from None
    except json.JSONDecodeError as exc:
        raise CliError(f"secrets file {path} is not JSON (line {exc.lineno})", USAGE) from None
    if not isinstance(data, dict):
        raise CliError(f"secrets file {path} must hold a JSON object with {sorted(FIELDS)}", USAGE)
    unknown = set(data) - set(FIELDS)
    if unknown:
        raise CliError(f"secrets file {path}: unknown keys {sorted(unknown)}; "
                       f"expected {sorted(FIELDS)}", USAGE)
    return {k: v for k, v in data.items() if isinstance(v, str) and v}


def read_secrets(secrets_file: Path | None, refresh_token: bool = True) -> Secrets:
    """File first, then environment variables, then a prompt for whatever is still missing.

    Without `refresh_token` (JWT bearer, API key, basic, client credentials) only the secret
    is asked for.
    """
    found = _from_file(secrets_file) if secrets_file else {}
    for field, env in FIELDS.items():
        if field not in found and os.environ.get(env):
            found[field] = os.environ[env]
    wanted = [f for f in FIELDS if refresh_token or f != "refresh_token"]
    for field in wanted:
        if field not in found:
            found[field] = typer.prompt(field.replace("_", " ").capitalize(), hide_input=True)
    return Secrets(client_secret=found["client_secret"],
                   refresh_token=found.get("refresh_token", ""))
