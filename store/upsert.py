"""Idempotent, dialect-aware upsert that never regresses a row to an older source version."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, DateTime, Dialect, Table, or_
from sqlalchemy.dialects import postgresql, sqlite

_KEY = ("connection", "stream", "external_id")
_INSERTS = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}


def upsert_rows(conn: Connection, table: Table, rows: list[dict[str, Any]]) -> int:
    """Insert or update rows keyed by (connection, stream, external id); return rows written."""
    return bulk_upsert(conn.dialect, table, rows).run(conn)


@dataclass(frozen=True)
class BulkUpsert:
    """An upsert ready to run: built outside the write transaction, so that SQLite's single
    writer lock is held only while the database itself works."""

    sql: str | None
    parameters: list[Any]

    def run(self, conn: Connection) -> int:
        if self.sql is not None:
            conn.exec_driver_sql(self.sql, self.parameters)
        return len(self.parameters)


def bulk_upsert(dialect: Dialect, table: Table, rows: list[dict[str, Any]]) -> BulkUpsert:
    if not rows:
        return BulkUpsert(None, [])
    # One statement cannot touch a row twice; keep the newest version of each record.
    newest: dict[str, dict[str, Any]] = {}
    for row in rows:
        current = newest.get(row["external_id"])
        if current is None or current["source_updated_at"] <= row["source_updated_at"]:
            newest[row["external_id"]] = row
    # Every parameter set names the same columns (a mapping may leave optional fields out).
    columns = frozenset(name for row in newest.values() for name in row)
    prepared = _prepared(dialect, table, columns)
    return BulkUpsert(prepared.sql, prepared.parameters(newest.values()))


@dataclass(frozen=True)
class _Prepared:
    """The upsert compiled once per (database, table, columns), run straight on the driver.

    SQLAlchemy would convert every value of every row through its generic per-parameter
    machinery on each call: for a bulk upsert that costs more than the database's own work.
    """

    sql: str
    names: tuple[str, ...]
    positional: bool
    convert: tuple[tuple[int, Callable[[Any], Any]], ...]  # (position, driver conversion)

    def parameters(self, rows: Any) -> list[Any]:
        names = self.names
        params: list[Any] = []
        for row in rows:
            values = [row.get(name) for name in names]
            for i, fn in self.convert:
                if values[i] is not None:
                    values[i] = fn(values[i])
            params.append(
                tuple(values) if self.positional else dict(zip(names, values, strict=True)))
        return params


@functools.lru_cache(maxsize=256)
def _prepared(dialect: Dialect, table: Table, columns: frozenset[str]) -> _Prepared:
    try:
        dialect_insert = _INSERTS[dialect.name]
    except KeyError as exc:
        raise RuntimeError(f"unsupported database dialect {dialect.name!r}") from exc
    unknown = columns - set(table.columns.keys())
    if unknown:
        raise ValueError(f"{table.name} has no column(s) {sorted(unknown)}")
    statement = _statement(dialect_insert, table)
    compiled = statement.compile(dialect=dialect, column_keys=sorted(columns))
    names = tuple(compiled.positiontup or ()) if compiled.positional else tuple(compiled.binds)
    convert: list[tuple[int, Callable[[Any], Any]]] = []
    for i, name in enumerate(names):
        column_type = table.c[name].type
        if dialect.name == "sqlite" and isinstance(column_type, DateTime):
            convert.append((i, sqlite_datetime))
        elif (processor := column_type.dialect_impl(dialect).bind_processor(dialect)) is not None:
            convert.append((i, processor))
    return _Prepared(compiled.string, names, compiled.positional, tuple(convert))


def sqlite_datetime(value: datetime) -> str:
    """SQLAlchemy's SQLite DateTime storage format ('YYYY-MM-DD HH:MM:SS.ffffff', zone
    dropped), from C instead of its per-field string formatting."""
    if value.tzinfo is not None:
        value = value.replace(tzinfo=None)
    return value.isoformat(" ", "microseconds")


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
