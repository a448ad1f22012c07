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
MAX_SECRETS_BYTES = 64 * 1024  # a PEM private key is a few KiB
_JSON_TYPES = {int: "a number", float: "a number", bool: "true/false", type(None): "null",
               list: "a list", dict: "an object"}


def _from_file(path: Path) -> dict[str, str]:
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_SECRETS_BYTES + 1)
    except OSError as exc:
        raise CliError(f"cannot read secrets file {path}: {exc.strerror}", USAGE) from None
    if len(raw) > MAX_SECRETS_BYTES:
        raise CliError(f"secrets file {path} is larger than 64 KiB", USAGE)
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise CliError(f"secrets file {path} is not JSON (line {exc.lineno})", USAGE) from None
    except (UnicodeDecodeError, RecursionError):
        raise CliError(f"secrets file {path} is not a JSON object of strings", USAGE) from None
    if not isinstance(data, dict):
        raise CliError(f"secrets file {path} must hold a JSON object with {sorted(FIELDS)}", USAGE)
    unknown = set(data) - set(FIELDS)
    if unknown:
        raise CliError(f"secrets file {path}: unknown keys {sorted(unknown)}; "
                       f"expected {sorted(FIELDS)}", USAGE)
    for key, value in data.items():  # the value itself is never shown: it may be a secret
        if not isinstance(value, str):
            raise CliError(f"secrets file {path}: {key} must be a string, not "
                           f"{_JSON_TYPES.get(type(value), type(value).__name__)}", USAGE)
        if not value:
            raise CliError(f"secrets file {path}: {key} is empty", USAGE)
    return dict(data)


def offered(secrets_file: Path | None) -> bool:
    """Whether credentials come without asking: a secrets file, or the environment."""
    return secrets_file is not None or any(os.environ.get(env) for env in FIELDS.values())


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
