"""Transactions on an engine given explicitly: chunked batches, and failures without values."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, create_engine, select
from temporalio.exceptions import ApplicationError

from infra.times import utcnow
from infra.transactions import Transactions
from store.db import engine
from store.schema import connections


def _add(conn: Connection, name: str) -> None:
    conn.execute(connections.insert().values(
        name=name, provider="hubspot", tenant="t", config={}, created_at=utcnow()))


def _names(conn: Connection) -> list[str]:
    return list(conn.execute(select(connections.c.name).order_by(connections.c.name)).scalars())


async def test_writes_and_reads_run_on_the_given_engine(database_url: str) -> None:
    db = Transactions(engine(database_url))
    await db.write(_add, "a")
    assert await db.read(_names) == ["a"]


async def test_a_batch_is_read_and_written_chunk_after_chunk(database_url: str) -> None:
    db = Transactions(engine(database_url))
    seen: list[list[int]] = []

    def prepare(conn: Connection, task: str, pages: list[int]) -> tuple[int, list[int]]:
        seen.append(pages)
        return 2, pages[:2]  # two pages per chunk

    def write(conn: Connection, task: str, work: list[int]) -> int:
        for page in work:
            _add(conn, f"{task}-{page}")
        return sum(work)

    assert await db.in_chunks(prepare, write, "p", [1, 2, 3, 4, 5]) == [3, 7, 5]
    assert seen == [[1, 2, 3, 4, 5], [3, 4, 5], [5]]
    assert await db.read(_names) == ["p-1", "p-2", "p-3", "p-4", "p-5"]


async def test_a_failed_statement_says_what_failed_but_not_its_values(database_url: str) -> None:
    db = Transactions(engine(database_url))
    await db.write(_add, "secret-name")

    def duplicate(conn: Connection) -> None:
        _add(conn, "secret-name")

    with pytest.raises(ApplicationError) as caught:
        await db.write(duplicate)
    assert caught.value.type == "database_error"
    # The driver's exception and its first line; PostgreSQL's second line names the values.
    assert caught.value.message.startswith(
        ("database_error: IntegrityError: UNIQUE", "database_error: UniqueViolation: duplicate"))
    assert "secret-name" not in caught.value.message
    assert "INSERT" not in caught.value.message


async def test_an_unreachable_database_is_its_own_category(tmp_path: Path) -> None:
    missing = create_engine(f"sqlite:///{tmp_path / 'no-such-dir' / 'x.db'}")
    db = Transactions(missing)

    def anything(conn: Connection) -> Any:
        return conn.exec_driver_sql("SELECT 1").scalar()

    with pytest.raises(ApplicationError) as caught:
        await db.read(anything)
    assert caught.value.type == "database_unavailable"
