"""Soft deletes on SQLite and PostgreSQL: only rows older than the archive, and never revived
by an older (or the same) version."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from store import deletes
from store.db import engine
from store.schema import contacts, delete_passes
from store.upsert import upsert_rows

T1, T2, T3, T4 = (datetime(2026, 1, d) for d in (1, 2, 3, 4))


def _row(external_id: str, updated: datetime, archived: bool = False,
         email: str = "a@x.io") -> dict[str, object]:
    return {"connection": "c", "stream": "contacts", "external_id": external_id,
            "email": email, "source_updated_at": updated, "archived": archived,
            "synced_at": datetime(2026, 1, 1)}


def _rows() -> dict[str, tuple[bool, datetime, str]]:
    with engine().connect() as conn:
        return {r.external_id: (r.archived, r.source_updated_at, r.email)
                for r in conn.execute(select(contacts))}


def _archive(archived: list[tuple[str, datetime]]) -> int:
    with engine().begin() as conn:
        return deletes.soft_delete(conn, contacts, connection="c", stream="contacts",
                                   archived=archived, synced_at=datetime(2026, 2, 1))


def test_soft_delete_archives_only_rows_older_than_the_archive(database_url: str) -> None:
    with engine().begin() as conn:
        upsert_rows(conn, contacts, [_row("1", T1), _row("2", T3), _row("3", T1)])
    # 1: archived after its version; 2: changed after the archive (restored since): stays;
    # 4: no such row.
    assert _archive([("1", T2), ("2", T2), ("4", T2)]) == 1
    assert _rows() == {"1": (True, T2, "a@x.io"), "2": (False, T3, "a@x.io"),
                       "3": (False, T1, "a@x.io")}
    assert _archive([("1", T2)]) == 0  # archived once, counted once


def test_an_archived_row_is_revived_only_by_a_newer_version(database_url: str) -> None:
    with engine().begin() as conn:
        upsert_rows(conn, contacts, [_row("1", T1)])
    _archive([("1", T2)])
    with engine().begin() as conn:
        # Older than the archive, and the archive's own instant: the row stays archived.
        upsert_rows(conn, contacts, [_row("1", T1, email="old@x.io")])
        upsert_rows(conn, contacts, [_row("1", T2, email="same@x.io")])
    assert _rows() == {"1": (True, T2, "a@x.io")}
    with engine().begin() as conn:
        upsert_rows(conn, contacts, [_row("1", T3, email="new@x.io")])  # restored and changed
    assert _rows() == {"1": (False, T3, "new@x.io")}
    with engine().begin() as conn:  # an archived version of the same instant still archives
        upsert_rows(conn, contacts, [_row("1", T3, archived=True, email="new@x.io")])
    assert _rows() == {"1": (True, T3, "new@x.io")}


def test_passes_are_recorded_once_each(database_url: str) -> None:
    def record(started: datetime, archived: int) -> None:
        with engine().begin() as conn:
            deletes.record_pass(conn, "c", "contacts", started, archived, T4)

    with engine().connect() as conn:
        assert deletes.last_run(conn, "c", "contacts") is None
    record(T1, 3)
    record(T1, 3)  # the pass's last step retried
    record(T2, 2)
    with engine().connect() as conn:
        row = conn.execute(select(delete_passes)).one()
        assert deletes.last_run(conn, "c", "contacts") == T2
    assert (row.last_run_at, row.archived_count, row.archived_total) == (T2, 2, 5)
