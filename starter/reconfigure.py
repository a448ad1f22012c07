"""Changing an existing connection: settings and credentials replaced in one transaction."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, update

from starter.connections import validate
from store import connections, vault
from store.db import engine
from store.schema import connections as connections_table


def update_connection(
    name: str, changes: dict[str, Any], secrets: vault.Secrets | None, db: Engine | None = None
) -> None:
    """Merge `changes` into the settings (validated as a whole) and replace the credentials."""
    with (db or engine()).begin() as conn:
        row = connections.get(conn, name)
        if changes:
            config = {**row.config, **changes}
            validate(row.provider, config)
            conn.execute(update(connections_table)
                         .where(connections_table.c.name == name).values(config=config))
        if secrets is not None:
            vault.store(conn, name, secrets)
