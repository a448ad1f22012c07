"""Idempotent, dialect-aware upsert that never regresses a row to an older source version."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Connection,
    DateTime,
    Dialect,
    Integer,
    String,
    Table,
    bindparam,
    column,
    delete,
    func,
    or_,
    select,
    text,
)
from sqlalchemy.dialects import postgresql, sqlite

from store.schema import transformed_pages, upserted_pages

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


def upsert_transformed(
    conn: Connection, table: Table, page_ids: list[int], *, connection: str, stream: str,
    synced_at: datetime,
) -> None:
    """PostgreSQL: upsert staged pages' transformed rows (staging.serialize_rows) and mark the
    pages upserted, in the database itself.

    The rows never come back to Python: decoding, converting and sending them row by row had
    cost the worker more CPU than PostgreSQL spends on the upsert.
    """
    conn.execute(_UNMARK_PAGES, {"b_page_ids": page_ids})
    conn.exec_driver_sql(_from_transformed(conn.dialect, table), {
        "b_page_ids": page_ids, "b_connection": connection, "b_stream": stream,
        "b_synced_at": synced_at})


_UNMARK_PAGES = delete(upserted_pages).where(
    upserted_pages.c.page_id == func.any(bindparam("b_page_ids")))


@functools.lru_cache(maxsize=256)
def _from_transformed(dialect: Dialect, table: Table) -> str:
    q = dialect.identifier_preparer.quote
    columns = [c for c in table.columns
               if not c.primary_key and c.name not in ("connection", "stream", "synced_at")]
    types = ", ".join(f"{q(c.name)} {c.type.compile(dialect)}" for c in columns)
    names = ", ".join(q(c.name) for c in columns)
    # Each page's rows, in page order: a record met twice keeps its newest, and of equally new
    # versions the last (as one statement per page did).
    staged = text(
        f"SELECT t.page_id, r.* FROM {transformed_pages.name} AS t, "
        f"ROWS FROM (jsonb_to_recordset(t.body::jsonb) AS ({types})) "
        f"WITH ORDINALITY AS r({names}, ord) WHERE t.page_id = ANY(:b_page_ids)"
    ).columns(*(column(c.name, c.type) for c in columns), column("page_id", Integer),
              column("ord", Integer)).cte("staged")
    newest = select(staged.c.page_id, func.max(staged.c.source_updated_at).label("newest")
                    ).group_by(staged.c.page_id).subquery()
    pages = transformed_pages.outerjoin(newest, newest.c.page_id == transformed_pages.c.page_id)
    marked = upserted_pages.insert().from_select(
        ["page_id", "upserted", "max_updated_at"],
        select(transformed_pages.c.page_id, transformed_pages.c.valid, newest.c.newest)
        .select_from(pages)
        .where(transformed_pages.c.page_id == func.any(bindparam("b_page_ids"))),
    ).cte("marked")
    rows = select(
        bindparam("b_connection", type_=String), bindparam("b_stream", type_=String),
        bindparam("b_synced_at", type_=DateTime), *(staged.c[c.name] for c in columns),
    ).ext(postgresql.distinct_on(staged.c.external_id)).order_by(
        staged.c.external_id, staged.c.source_updated_at.desc(), staged.c.page_id.desc(),
        staged.c.ord.desc())
    insert = postgresql.insert(table).from_select(
        ["connection", "stream", "synced_at", *(c.name for c in columns)], rows)
    return str(_statement(lambda _: insert, table).add_cte(staged, marked).compile(dialect=dialect))
