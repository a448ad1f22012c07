"""The dialect-aware upsert on SQLite and PostgreSQL: idempotent, never regressing."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy import DateTime, select
from sqlalchemy.dialects import sqlite

from store.db import engine
from store.schema import companies, contacts
from store.upsert import sqlite_datetime, upsert_rows


def _row(external_id: str, updated: datetime, email: str) -> dict:
    return {"connection": "c", "stream": "contacts", "external_id": external_id,
            "email": email, "source_updated_at": updated, "archived": False,
            "synced_at": datetime(2026, 1, 1)}


def _emails(conn) -> dict[str, str]:  # type: ignore[no-untyped-def]
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


def test_sqlite_datetimes_are_stored_as_sqlalchemy_stores_them() -> None:
    # Rows written by the driver-level upsert and rows written through SQLAlchemy elsewhere
    # (and compared in the upsert's WHERE) must share one text format, or comparisons break.
    dialect = sqlite.dialect()
    sqlalchemy_format = DateTime().dialect_impl(dialect).bind_processor(dialect)
    for value in (datetime(2025, 1, 1), datetime(2025, 6, 1, 12, 30, 5, 123456),
                  datetime(999, 12, 31, 23, 59, 59, 1),
                  datetime(2025, 6, 1, 12, 30, 5, 7, tzinfo=UTC)):
        assert sqlite_datetime(value) == sqlalchemy_format(value)


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
