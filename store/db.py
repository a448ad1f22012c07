"""Engine creation: one per database URL, tables created, SQLite set up for a worker."""

from __future__ import annotations

import contextlib
import os
from functools import cache
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, make_url

from store.schema import metadata
from store.settings import database_url, owner_only

# Execution option of a connection whose transactions only read (see _begin_immediate).
READ_ONLY = "tributary_read_only"


def engine(url: str | None = None) -> Engine:
    """The engine of `url`, or of the configured database; one per URL, tables created."""
    return _engine(url or database_url())


def _private_file(database: str | None) -> None:
    """The SQLite file holds the synced records and the credentials (encrypted): owner only.
    Created so before SQLite opens it, which gives its -wal and -shm files the same mode."""
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    path = Path(database)
    with contextlib.suppress(OSError):  # exists already, or SQLite will say why it cannot
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    if path.exists():
        owner_only(path)


@cache
def _engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        _private_file(make_url(url).database)
        eng = create_engine(url, connect_args={"timeout": 60})

        @event.listens_for(eng, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            # WAL lets the CLI read while a worker writes; the busy timeout queues writers.
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA busy_timeout=60000")
            # 512 KiB of pages per connection, not 2 MiB: every worker thread holds one, and
            # the OS page cache serves the rest (worker memory, docs/BENCHMARKS.md).
            cursor.execute("PRAGMA cache_size=-512")
            cursor.close()

        @event.listens_for(eng, "begin")
        def _begin_immediate(conn: Connection) -> None:
            # Take the write lock up front: a deferred transaction that upgrades later fails
            # with "database is locked" instead of waiting, and claims of a token's refresh
            # lease rely on it to be one at a time (activities.token). Transactions
            # that only read (READ_ONLY) take no lock: WAL serves them beside the writer.
            read_only = conn.get_execution_options().get(READ_ONLY)
            conn.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")

    else:
        eng = create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)
    metadata.create_all(eng)
    return eng

