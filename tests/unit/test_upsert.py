"""The dialect-aware upsert on SQLite and PostgreSQL: idempotent, never regressing."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from store.db import engine
from store.schema import contacts
from store.upsert import upsert_rows


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
