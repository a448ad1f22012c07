"""Per-stream state as the provider's answers leave it."""

from __future__ import annotations

from sqlalchemy import select

from store import sync_state
from store.db import engine
from store.schema import stream_state


def test_a_provider_message_with_a_nul_character_is_recorded(database_url: str) -> None:
    # Failing here would fail the fetch's error bookkeeping, a database error retried forever.
    with engine().begin() as conn:
        sync_state.record_error(conn, "c", "s", "validation_error",
                                "no such field 'Na\x00me'", retry=False)
    with engine().connect() as conn:
        row = conn.execute(select(stream_state)).one()
    assert row.last_error == "no such field 'Na\\x00me'"
    assert row.errors_by_category == {"validation_error": 1}
