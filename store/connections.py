"""Connections: a provider account of one tenant, with non-secret settings."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, bindparam, delete, select, update

from infra.times import utcnow
from store.schema import (
    connections,
    credentials,
    provider_properties,
    rejected_records,
    schema_changes,
    stream_state,
)


class UnknownConnection(LookupError):
    pass


def add(conn: Connection, name: str, provider: str, tenant: str, config: dict[str, Any]) -> None:
    conn.execute(connections.insert().values(
        name=name, provider=provider, tenant=tenant, config=config, created_at=utcnow()))


_GET = select(connections).where(connections.c.name == bindparam("b_name"))  # every activity


def get(conn: Connection, name: str) -> Any:
    row = conn.execute(_GET, {"b_name": name}).one_or_none()
    if row is None:
        # Names no other connection: this message reaches workflow histories, which whoever
        # starts a sync can read, and connections of other tenants are none of their business.
        raise UnknownConnection(f"unknown connection {name[:200]!r} (`python -m starter "
                                "connection list` shows them)")
    return row


def set_config(conn: Connection, name: str, config: dict[str, Any]) -> None:
    conn.execute(update(connections).where(connections.c.name == name).values(config=config))


def all_(conn: Connection) -> list[Any]:
    return list(conn.execute(select(connections).order_by(connections.c.name)))


def remove(conn: Connection, name: str) -> None:
    get(conn, name)
    conn.execute(delete(credentials).where(credentials.c.connection == name))
    conn.execute(delete(stream_state).where(stream_state.c.connection == name))
    conn.execute(delete(rejected_records).where(rejected_records.c.connection == name))
    conn.execute(delete(provider_properties).where(provider_properties.c.connection == name))
    conn.execute(delete(schema_changes).where(schema_changes.c.connection == name))
    conn.execute(delete(connections).where(connections.c.name == name))
