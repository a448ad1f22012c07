"""The cached property list of each (connection, stream) and the schema changes seen upstream."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select, update

from store.schema import provider_properties, schema_changes

# What `status` shows of a stream's schema changes: the newest, of the newest READ_CHANGES.
SHOWN_CHANGES, READ_CHANGES = 20, 10_000
CREATED, ARCHIVED = "created", "archived"


@dataclass(frozen=True)
class Cached:
    names: list[str]
    checked_at: datetime


def _where(connection: str, stream: str) -> Any:
    return ((provider_properties.c.connection == connection)
            & (provider_properties.c.stream == stream))


def changes(before: list[str], after: list[str]) -> list[tuple[str, str]]:
    """(property, created | archived) between two lists of names."""
    old, new = set(before), set(after)
    return ([(name, CREATED) for name in sorted(new - old)]
            + [(name, ARCHIVED) for name in sorted(old - new)])


def cached(conn: Connection, connection: str, stream: str) -> Cached | None:
    row = conn.execute(select(provider_properties).where(_where(connection, stream))).one_or_none()
    return None if row is None else Cached(list(row.names), row.checked_at)


def record(conn: Connection, connection: str, stream: str, names: list[str],
           now: datetime) -> list[tuple[str, str]]:
    """Keep the list just read; return what changed since the one before and record it as
    schema changes. The first list is the baseline: nothing has changed yet."""
    query = select(provider_properties.c.names).where(_where(connection, stream))
    before = conn.execute(query.with_for_update()).scalar()
    if before is None:
        conn.execute(provider_properties.insert().values(
            connection=connection, stream=stream, names=names, checked_at=now))
        return []
    found = changes(list(before), names)
    conn.execute(update(provider_properties).where(_where(connection, stream)).values(
        names=names, checked_at=now))
    if found:
        conn.execute(schema_changes.insert(), [
            {"connection": connection, "stream": stream, "property": name, "change": change,
             "seen_at": now} for name, change in found])
    return found


def recent(conn: Connection) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """The newest SHOWN_CHANGES schema changes of every stream, newest first."""
    shown: dict[tuple[str, str], list[dict[str, Any]]] = {}
    rows = conn.execute(select(schema_changes).order_by(schema_changes.c.id.desc())
                        .limit(READ_CHANGES))
    for row in rows:
        kept = shown.setdefault((row.connection, row.stream), [])
        if len(kept) < SHOWN_CHANGES:
            kept.append({"property": row.property, "change": row.change, "seen_at": row.seen_at})
    return shown
