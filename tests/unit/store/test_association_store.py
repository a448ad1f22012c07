"""Stored associations on SQLite and PostgreSQL: an idempotent upsert, removals archived only
for records whose whole set was read, and when the periodic re-read is due."""

from __future__ import annotations

from datetime import datetime, timedelta
from types import SimpleNamespace

from sqlalchemy import Connection, select

from store import associations as store
from store.db import engine
from store.schema import associations

T0, T1 = datetime(2026, 1, 1), datetime(2026, 1, 2)


def _rows(conn: Connection) -> dict[tuple[str, str, int], tuple[bool, datetime]]:
    return {(r.from_external_id, r.to_external_id, r.type_id): (r.archived, r.synced_at)
            for r in conn.execute(select(associations))}


def test_save_is_idempotent_and_archives_what_a_complete_read_lacks(database_url: str) -> None:
    with engine().begin() as conn:
        found = {"1": [("10", 1, "HUBSPOT_DEFINED", None), ("11", 1, "HUBSPOT_DEFINED", None)],
                 "2": [("10", 1, "HUBSPOT_DEFINED", None)]}
        assert store.save(conn, "c", "contacts", "companies", found, {"1", "2"}, T0) == (3, 0)
        # The same read again writes nothing, synced_at included.
        assert store.save(conn, "c", "contacts", "companies", found, {"1", "2"}, T1) == (3, 0)
        assert {v[1] for v in _rows(conn).values()} == {T0}
        # "1" lost 11; "2" was not read whole (its paging was cut): its rows stay.
        later = {"1": [("10", 1, "HUBSPOT_DEFINED", None)], "2": []}
        assert store.save(conn, "c", "contacts", "companies", later, {"1"}, T1) == (1, 1)
        assert _rows(conn) == {("1", "10", 1): (False, T0), ("1", "11", 1): (True, T1),
                               ("2", "10", 1): (False, T0)}
        # Back upstream: live again.
        store.save(conn, "c", "contacts", "companies", found, {"1", "2"}, T1 + timedelta(1))
        assert _rows(conn)[("1", "11", 1)][0] is False
        # Another connection's or direction's rows are never touched.
        store.save(conn, "other", "contacts", "companies", {"1": []}, {"1"}, T1)
        store.save(conn, "c", "contacts", "deals", {"1": []}, {"1"}, T1)
        assert all(not archived for archived, _ in _rows(conn).values())


def test_reconcile_progress_and_due(database_url: str) -> None:
    with engine().begin() as conn:
        assert store.reconcile_due(None, 60, T0)  # no state: the first call starts the clock
        assert not store.reconcile_due(None, None, T0)  # never
        store.reconcile_progress(conn, "c", "contacts", None, T0)
        state = store.reconcile_state(conn, "c", "contacts")
        assert not store.reconcile_due(state, 60, T0 + timedelta(seconds=59))
        assert store.reconcile_due(state, 60, T0 + timedelta(seconds=60))
        store.reconcile_progress(conn, "c", "contacts", "500", T1)  # a pass under way
        state = store.reconcile_state(conn, "c", "contacts")
        assert (state.cursor, state.started_at, state.finished_at) == ("500", T1, T0)
        assert store.reconcile_due(state, 86400, T1)
        store.reconcile_progress(conn, "c", "contacts", None, T1 + timedelta(seconds=5))
        state = store.reconcile_state(conn, "c", "contacts")
        assert state.cursor is None and state.finished_at == T1 + timedelta(seconds=5)
        assert not store.reconcile_due(SimpleNamespace(cursor=None, finished_at=T1), 60, T1)
