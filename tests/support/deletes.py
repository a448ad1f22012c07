"""Deletes passes in tests: making the next one due without waiting for it."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update

from store.db import engine
from store.schema import delete_passes
from tests.support.stacks import Stack


def elapse(stack: Stack, seconds: int, stream: str = "contacts") -> None:
    """As if `seconds` had passed since the stream's last deletes pass started: with
    `seconds` = deletes_every_s the next cycle makes a pass (due-ness is read at run start)."""
    where = (delete_passes.c.connection == stack.connection) & \
        (delete_passes.c.stream == stream)
    with engine().begin() as conn:
        last = conn.execute(select(delete_passes.c.last_run_at).where(where)).scalar_one()
        conn.execute(update(delete_passes).where(where).values(
            last_run_at=last - timedelta(seconds=seconds)))
