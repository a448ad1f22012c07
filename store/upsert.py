"""Idempotent, dialect-aware upsert that never regresses a row to an older source version."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Table, or_
from sqlalchemy.dialects import postgresql, sqlite

_KEY = ("connection", "stream", "external_id")
_INSERTS = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}


def upsert_rows(conn: Connection, table: Table, rows: list[dict[str, Any]]) -> int:
    """Insert or update rows keyed by (connection, stream, external id); return rows written."""
    if not rows:
        return 0
    try:
        dialect_insert = _INSERTS[conn.dialect.name]
    except KeyError as exc:
        raise RuntimeError(f"unsupported database dialect {conn.dialect.name!r}") from exc
    # One statement cannot touch a row twice; keep the newest version of each record.
    newest: dict[str, dict[str, Any]] = {}
    for row in rows:
        current = newest.get(row["external_id"])
        if current is None or current["source_updated_at"] <= row["source_updated_at"]:
            newest[row["external_id"]] = row
    # One compiled statement, many parameter sets: the driver batches them (SQLAlchemy's
    # insertmanyvalues on PostgreSQL), within each database's bound-parameter cap.
    # Every parameter set names the same columns (a mapping may leave optional fields out).
    columns = {name for row in newest.values() for name in row}
    params = [{name: row.get(name) for name in columns} for row in newest.values()]
    conn.execute(_statement(dialect_insert, table), params)
    return len(newest)


def _statement(dialect_insert: Any, table: Table) -> Any:
    stmt = dialect_insert(table)
    changed = {
        column.name: stmt.excluded[column.name]
        for column in table.columns
        if column.name not in _KEY and not column.primary_key
    }
    # Newer source version, or the same version with different values (a mapping fix). An
    # identical re-run writes nothing, not even synced_at.
    same_version_changed = or_(
        *(
            table.c[name].is_distinct_from(stmt.excluded[name])
            for name in changed
            if name not in ("synced_at", "source_updated_at")
        )
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=list(_KEY),
        set_=changed,
        where=(table.c.source_updated_at < stmt.excluded.source_updated_at)
        | ((table.c.source_updated_at == stmt.excluded.source_updated_at) & same_version_changed),
    )
    return stmt
