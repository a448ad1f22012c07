"""Idempotent, dialect-aware upsert that never regresses a row to an older source version."""

from __future__ import annotations

import functools
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BindParameter,
    Column,
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
    literal,
    or_,
    select,
    text,
    true,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.expression import ColumnElement, Executable

from store.schema import transformed_pages, upserted_pages

_KEY = ("connection", "stream", "external_id")
# Set by the upsert, not by the transform.
_OWN = ("connection", "stream", "synced_at")
_INSERTS = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}


def upsert_rows(conn: Connection, table: Table, rows: list[dict[str, Any]]) -> int:
    """Insert or update rows keyed by (connection, stream, external id); return rows written."""
    if not rows:
        return 0
    # One statement cannot touch a row twice; keep the newest version of each record.
    newest: dict[str, dict[str, Any]] = {}
    for row in rows:
        current = newest.get(row["external_id"])
        if current is None or current["source_updated_at"] <= row["source_updated_at"]:
            newest[row["external_id"]] = row
    # Every parameter set names the same columns (a mapping may leave optional fields out).
    columns = {name for row in newest.values() for name in row}
    unknown = columns - set(table.columns.keys())
    if unknown:
        raise ValueError(f"{table.name} has no column(s) {sorted(unknown)}")
    conn.execute(_statement(_insert(conn.dialect)(table), table),
                 [{name: row.get(name) for name in columns} for row in newest.values()])
    return len(newest)


def upsert_transformed(
    conn: Connection, table: Table, page_ids: list[int], *, connection: str, stream: str,
    synced_at: datetime,
) -> tuple[int, datetime | None]:
    """Upsert staged pages' transformed rows (staging.serialize_rows) and mark the pages
    upserted; return (rows, newest source version), counted per page.

    The database reads the rows itself: decoding, converting and binding them row by row in
    Python had cost the worker more CPU than the database spends on the upsert.
    """
    params = {"b_page_ids": page_ids, "b_connection": connection, "b_stream": stream,
              "b_synced_at": synced_at}
    conn.execute(_UNMARK, params)
    for statement in _from_transformed(conn.dialect, table):
        conn.execute(statement, params)
    totals = conn.execute(_UPSERTED, params).one()
    return int(totals.upserted), totals.newest


_PAGES: BindParameter[list[int]] = bindparam("b_page_ids", expanding=True)
_UNMARK = delete(upserted_pages).where(upserted_pages.c.page_id.in_(_PAGES))
_UPSERTED = select(
    func.coalesce(func.sum(upserted_pages.c.upserted), 0).label("upserted"),
    func.max(upserted_pages.c.max_updated_at).label("newest"),
).where(upserted_pages.c.page_id.in_(_PAGES))


def _insert(dialect: Dialect) -> Any:
    try:
        return _INSERTS[dialect.name]
    except KeyError as exc:
        raise RuntimeError(f"unsupported database dialect {dialect.name!r}") from exc


def _statement(stmt: Any, table: Table) -> Any:
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
    # At the same version an archived row stays archived: a soft delete (store.deletes) takes
    # the archive's instant as the row's version, and no live copy of that version revives it.
    stays_archived = table.c.archived & ~stmt.excluded.archived
    stmt = stmt.on_conflict_do_update(
        index_elements=list(_KEY),
        set_=changed,
        where=(table.c.source_updated_at < stmt.excluded.source_updated_at)
        | ((table.c.source_updated_at == stmt.excluded.source_updated_at) & same_version_changed
           & ~stays_archived),
    )
    return stmt


@functools.lru_cache(maxsize=256)
def _from_transformed(dialect: Dialect, table: Table) -> tuple[Executable, ...]:
    columns = [c for c in table.columns if not c.primary_key and c.name not in _OWN]
    own = (bindparam("b_connection", type_=String), bindparam("b_stream", type_=String),
           bindparam("b_synced_at", type_=DateTime))
    names = [*_OWN, *(c.name for c in columns)]
    _insert(dialect)  # an unsupported database fails here, clearly
    if dialect.name == "postgresql":
        return _postgresql(dialect, table, columns, own, names)
    return _sqlite(table, columns, own, names)


def _postgresql(dialect: Dialect, table: Table, columns: list[Column[Any]], own: tuple[Any, ...],
                names: list[str]) -> tuple[Executable, ...]:
    """One statement. A record met twice keeps its newest version, and of equally new ones the
    last: PostgreSQL cannot touch a row twice in one statement, and a re-run must find
    nothing to write."""
    q = dialect.identifier_preparer.quote
    types = ", ".join(f"{q(c.name)} {c.type.compile(dialect)}" for c in columns)
    staged = text(
        f"SELECT t.page_id, r.* FROM {transformed_pages.name} AS t, "
        f"ROWS FROM (jsonb_to_recordset(t.body::jsonb) AS ({types})) "
        f"WITH ORDINALITY AS r({', '.join(q(c.name) for c in columns)}, ord) "
        f"WHERE t.page_id IN :b_page_ids"
    ).bindparams(_PAGES).columns(
        *(column(c.name, c.type) for c in columns), column("page_id", Integer),
        column("ord", Integer),
    ).cte("staged")
    newest = select(staged.c.page_id, func.max(staged.c.source_updated_at).label("newest")
                    ).group_by(staged.c.page_id).subquery()
    marked = upserted_pages.insert().from_select(
        ["page_id", "upserted", "max_updated_at"],
        select(transformed_pages.c.page_id, transformed_pages.c.valid, newest.c.newest)
        .select_from(transformed_pages.outerjoin(
            newest, newest.c.page_id == transformed_pages.c.page_id))
        .where(transformed_pages.c.page_id.in_(_PAGES)),
    ).cte("marked")
    rows = select(*own, *(staged.c[c.name] for c in columns)).ext(
        postgresql.distinct_on(staged.c.external_id)
    ).order_by(staged.c.external_id, staged.c.source_updated_at.desc(),
               staged.c.page_id.desc(), staged.c.ord.desc())
    insert = postgresql.insert(table).from_select(names, rows)
    return (_statement(insert, table).add_cte(staged, marked),)


def _sqlite(table: Table, columns: list[Column[Any]], own: tuple[Any, ...],
            names: list[str]) -> tuple[Executable, ...]:
    """Two statements: the pages' marks, then the rows, each record's newest version once."""
    record = func.json_each(transformed_pages.c.body).table_valued("key", "value")

    def field(c: Column[Any]) -> ColumnElement[Any]:
        value = func.json_extract(record.c.value, literal(f'$."{c.name}"'))
        if isinstance(c.type, DateTime):
            # ISO 8601 as staged -> SQLAlchemy's own SQLite text ('YYYY-MM-DD HH:MM:SS.ffffff'),
            # which the version check compares as text.
            value = func.substr(func.replace(value, "T", " ").concat(".000000"), 1, 26)
        return value

    newest = select(func.max(field(table.c.source_updated_at))).select_from(record)
    marks = upserted_pages.insert().from_select(
        ["page_id", "upserted", "max_updated_at"],
        select(transformed_pages.c.page_id, transformed_pages.c.valid, newest.scalar_subquery())
        .where(transformed_pages.c.page_id.in_(_PAGES)),
    )
    fields = (select(*(field(c).label(c.name) for c in columns), func.row_number().over(
        partition_by=field(table.c.external_id),
        order_by=(field(table.c.source_updated_at).desc(), transformed_pages.c.page_id.desc(),
                  record.c.key.desc()),
    ).label("version")).select_from(transformed_pages.join(record, true()))
        .where(transformed_pages.c.page_id.in_(_PAGES)).subquery())
    rows = select(*own, *(fields.c[c.name] for c in columns)).where(fields.c.version == 1)
    return (marks, _statement(sqlite.insert(table).from_select(names, rows), table))
