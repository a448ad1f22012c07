"""The dialect-aware upsert on SQLite and PostgreSQL: idempotent, never regressing."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, DateTime, String, cast, create_engine, select, text

from store import staging
from store.db import engine
from store.schema import companies, contacts, metadata, upserted_pages
from store.upsert import upsert_rows, upsert_transformed


def _row(external_id: str, updated: datetime, email: str) -> dict:
    return {"connection": "c", "stream": "contacts", "external_id": external_id,
            "email": email, "source_updated_at": updated, "archived": False,
            "synced_at": datetime(2026, 1, 1)}


def _emails(conn: Connection) -> dict[str, str]:
    return {r.external_id: r.email for r in conn.execute(select(contacts))}


def test_upsert_is_idempotent_and_never_regresses(database_url: str) -> None:
    old, new = datetime(2025, 1, 1), datetime(2025, 6, 1)
    with engine().begin() as conn:
        upsert_rows(conn, contacts, [_row("1", old, "a@x.io"), _row("2", new, "b@x.io")])
        # Newer wins, older is ignored, a duplicate in one batch keeps the newest.
        upsert_rows(conn, contacts, [_row("1", new, "a2@x.io"), _row("2", old, "stale@x.io"),
                                     _row("3", old, "c-old@x.io"), _row("3", new, "c@x.io")])
        assert _emails(conn) == {"1": "a2@x.io", "2": "b@x.io", "3": "c@x.io"}
        synced = {r.external_id: r.synced_at for r in conn.execute(select(contacts))}
        # The same versions again write nothing, not even synced_at.
        later = [dict(_row("1", new, "a2@x.io"), synced_at=datetime(2027, 1, 1))]
        upsert_rows(conn, contacts, later)
        assert {r.external_id: r.synced_at for r in conn.execute(select(contacts))} == synced
        # Same version, different values (a mapping fix): rewritten.
        upsert_rows(conn, contacts, [_row("1", new, "fixed@x.io")])
        assert _emails(conn)["1"] == "fixed@x.io"


def _stage_transformed(conn: Connection, pages: list[list[dict[str, Any]]]) -> list[int]:
    """Pages as transform_page leaves them: staged, then their rows serialized."""
    ids = []
    for page_no, rows in enumerate(pages):
        page_id = staging.stage(conn, window_id="w", page_no=page_no, connection="c",
                                stream="contacts", raw="[]", fetched=len(rows))
        staging.save_transformed(conn, page_id, staging.serialize_rows(rows), len(rows), 0)
        ids.append(page_id)
    return ids


def _transformed(external_id: str, updated: datetime, email: str) -> dict:
    return {"external_id": external_id, "email": email, "source_updated_at": updated,
            "archived": False}


def test_transformed_pages_upsert_in_the_database(database_url: str) -> None:
    old, new = datetime(2025, 1, 1), datetime(2025, 6, 1, 0, 0, 0, 500)
    with engine().begin() as conn:
        upsert_rows(conn, contacts, [_row("1", old, "a@x.io"), _row("2", new, "b@x.io")])
        # A record met twice (across pages and within one) keeps its newest version, and of
        # equally new ones the last; an older version never regresses the table.
        pages = _stage_transformed(conn, [
            [_transformed("1", new, "a-new@x.io"), _transformed("3", new, "c@x.io")],
            [],
            [_transformed("2", old, "stale@x.io"), _transformed("3", old, "c-old@x.io"),
             _transformed("4", old, "d1@x.io"), _transformed("4", old, "d2@x.io")],
        ])
        synced_at = datetime(2026, 2, 1)
        assert upsert_transformed(conn, contacts, pages, connection="c", stream="contacts",
                                  synced_at=synced_at) == (6, new)
        assert _emails(conn) == {"1": "a-new@x.io", "2": "b@x.io", "3": "c@x.io",
                                 "4": "d2@x.io"}
        marks = {r.page_id: (r.upserted, r.max_updated_at)
                 for r in conn.execute(select(upserted_pages))}
        assert marks == {pages[0]: (2, new), pages[1]: (0, None), pages[2]: (4, old)}
        # Run again (a retried activity): the same marks, and nothing is written.
        later = datetime(2027, 1, 1)
        assert upsert_transformed(conn, contacts, pages, connection="c", stream="contacts",
                                  synced_at=later) == (6, new)
        assert later not in {r.synced_at for r in conn.execute(select(contacts))}


def test_both_upserts_store_every_column_type_alike(database_url: str) -> None:
    # Rows of the transform path and rows of upsert_rows (the redrive CLI) are compared by the
    # version check: they must be stored exactly alike, down to SQLite's datetime text.
    rows = [{"external_id": str(i), "name": "Acme", "employees": 12,
             "annual_revenue": Decimal("1234.50"), "archived": True,
             "source_created_at": created, "source_updated_at": datetime(2025, 1, 1, 0, 0, 0, i),
             "domain": None}
            for i, created in enumerate([datetime(2024, 2, 29, 8),
                                         datetime(999, 1, 2, 3, 4, 5, 6)])]
    columns = [c for c in companies.columns if c.name != "id"]
    with engine().begin() as conn:
        pages = _stage_transformed(conn, [rows])
        upsert_transformed(conn, companies, pages, connection="c", stream="via-sql",
                           synced_at=datetime(2026, 1, 1))
        upsert_rows(conn, companies, [dict(row, connection="c", stream="via-rows",
                                           synced_at=datetime(2026, 1, 1)) for row in rows])
        as_text = [cast(c, String).label(c.name) if isinstance(c.type, DateTime) else c
                   for c in columns]
        stored = {(r.stream, r.external_id): r._mapping
                  for r in conn.execute(select(*as_text))}
    for row in rows:
        key = row["external_id"]
        assert dict(stored["via-sql", key]) | {"stream": "x"} == \
            dict(stored["via-rows", key]) | {"stream": "x"}
    typed = dict(stored["via-sql", "0"])
    assert (typed["employees"], typed["annual_revenue"], typed["archived"]) == \
        (12, Decimal("1234.50"), True)


def test_every_column_type_reads_back(database_url: str) -> None:
    row = {"connection": "c", "stream": "companies", "external_id": "9", "name": "Acme",
           "employees": 12, "annual_revenue": Decimal("1234.50"), "archived": True,
           "source_created_at": datetime(2024, 2, 29, 8, 0, 0, 250000),
           "source_updated_at": datetime(2025, 1, 1, 0, 0, 0, 1),
           "synced_at": datetime(2026, 1, 1)}
    with engine().begin() as conn:
        assert upsert_rows(conn, companies, [row]) == 1
        stored = conn.execute(select(companies)).one()._mapping
    for name, value in row.items():
        assert stored[name] == value, name
    assert stored["domain"] is None  # a column the rows leave out


def test_postgresql_stores_staged_bodies_uncompressed(postgres_url: str) -> None:
    # Written once and read once: compressing them cost PostgreSQL a sixth of its CPU.
    eng = create_engine(postgres_url)
    metadata.drop_all(eng)
    metadata.create_all(eng)
    with eng.connect() as conn:
        storage = dict(conn.execute(text(
            "SELECT attrelid::regclass::text || '.' || attname, attstorage FROM pg_attribute "
            "WHERE (attrelid = 'staged_pages'::regclass AND attname = 'raw') "
            "OR (attrelid = 'transformed_pages'::regclass AND attname = 'body')")).all())
    eng.dispose()
    assert storage == {"staged_pages.raw": "e", "transformed_pages.body": "e"}
