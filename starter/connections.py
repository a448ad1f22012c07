"""Adding, updating and removing connections: settings validated up front, secrets to the vault."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from pydantic import ValidationError
from sqlalchemy import Engine

from connectors.registry import UnknownProvider, mappings, validate_settings
from infra.times import utcnow
from starter.portal_check import check_portal
from store import connections, properties, vault
from store.db import engine
from workflows.inputs import NAME_PATTERN

T = TypeVar("T")


class InvalidConnection(ValueError):
    """The connection's settings or mappings are not valid; the message says where."""


def validate(provider: str, config: dict[str, Any]) -> None:
    """Reject bad settings and mappings now, not halfway through a sync."""
    settings = {k: v for k, v in config.items() if k != "mappings"}
    try:
        mappings(provider, config.get("mappings"), validate_settings(provider, settings))
    except UnknownProvider as exc:
        raise InvalidConnection(str(exc)) from None
    except ValidationError as exc:
        details = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'config'}: {e['msg']}" for e in exc.errors()
        )
        raise InvalidConnection(f"invalid {provider} connection settings: {details}") from None


def _check_name(what: str, value: str) -> None:
    if not re.fullmatch(NAME_PATTERN, value) or len(value) > 200:
        raise InvalidConnection(f"invalid {what} {value[:200]!r}: use letters, digits, '.', "
                                "'_' and '-', starting with a letter or digit (200 at most)")


def add(
    name: str, provider: str, tenant: str, config: dict[str, Any], secrets: vault.Secrets,
    db: Engine | None = None, check: bool = False,
) -> str | None:
    """Store the connection; with `check`, first ask the provider whether the mappings read
    properties it has (starter.portal_check): refused if not. Returns a warning to show when
    the provider could not be asked."""
    _check_name("connection name", name)
    # The tenant goes into a search attribute and visibility queries (`sync pause --tenant`).
    _check_name("tenant", tenant)
    validate(provider, config)
    vault.ensure_key()
    eng = db or engine()
    with eng.connect() as conn:
        _not_taken(conn, name)  # before asking the provider anything
    checked = _blocking(check_portal(provider, config, secrets.client_secret,
                                     secrets.refresh_token)) if check else None
    if checked is not None and checked.refusals:
        raise InvalidConnection("; ".join(checked.refusals))
    if checked is not None and checked.refresh_token:
        secrets = vault.Secrets(secrets.client_secret, checked.refresh_token)
    with eng.begin() as conn:
        _not_taken(conn, name)
        connections.add(conn, name, provider, tenant, config)
        vault.store(conn, name, secrets)
        for stream, names in (checked.names if checked is not None else {}).items():
            properties.record(conn, name, stream, names, utcnow())  # the first sync's cache
    return checked.warning if checked is not None else None


def _blocking(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to its end, also when the caller runs an event loop (a thread of its
    own: `asyncio.run` refuses to nest)."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def _not_taken(conn: Any, name: str) -> None:
    if name in {row.name for row in connections.all_(conn)}:
        raise InvalidConnection(f"connection {name!r} already exists (remove it first, or "
                                "replace its credentials with `connection update "
                                "--reauthorize`)")


def update(
    name: str, changes: dict[str, Any], secrets: vault.Secrets | None, db: Engine | None = None
) -> None:
    """Merge `changes` into the settings (validated as a whole) and replace the credentials."""
    with (db or engine()).begin() as conn:
        row = connections.get(conn, name)
        if changes:
            config = {**row.config, **changes}
            validate(row.provider, config)
            connections.set_config(conn, name, config)
        if secrets is not None:
            vault.store(conn, name, secrets)


def remove(name: str, db: Engine | None = None) -> None:
    with (db or engine()).begin() as conn:
        connections.remove(conn, name)
