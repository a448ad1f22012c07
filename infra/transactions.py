"""Database transactions for the worker: each on a thread, off the event loop, and a failure that
says what failed without the statement's values."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from temporalio.exceptions import ApplicationError

from store.db import READ_ONLY, engine

T = TypeVar("T")
W = TypeVar("W")

# SQLite has one writer at a time, and a writer that finds the lock taken polls for it, sleeping
# up to 100 ms between tries. This process's writers queue here instead, each woken as soon as
# the one before commits (measured: writers had polled 4.7 s in all during a 7 s sync of
# 100,000 records). Writers build their statements' parameters before they queue.
_SQLITE_WRITER = threading.Lock()


class Transactions:
    """Transactions on one database. Activities take one as an argument; `configured()` is the
    one of DATABASE_URL, looked up at each call (tests switch databases within one process)."""

    def __init__(self, eng: Engine) -> None:
        self.engine = eng
        self._writers = (_SQLITE_WRITER if eng.dialect.name == "sqlite"
                         else contextlib.nullcontext())

    @classmethod
    def configured(cls) -> Transactions:
        return cls(engine())

    async def write(self, fn: Callable[..., T], *args: Any) -> T:
        """Run `fn(conn, ...)` in one transaction."""
        return await self._off_loop(False, fn, *args)

    async def read(self, fn: Callable[..., T], *args: Any) -> T:
        """`write` for `fn`s that only read: on SQLite they never wait for the writer's lock."""
        return await self._off_loop(True, fn, *args)

    async def in_chunks(
        self, prepare: Callable[[Connection, Any, list[int]], tuple[int, W]],
        write: Callable[[Connection, Any, W], T], task: Any, page_ids: list[int],
    ) -> list[T]:
        """A batch of staged pages, chunk after chunk (see staging.TRANSACTION_RECORDS), until
        every page is done: `prepare(conn, task, pages) -> (pages taken, work)` reads and
        computes in a read-only transaction, then `write(conn, task, work) -> result` in a
        short write one.

        Only the writes hold SQLite's single writer lock, so fetches staging pages meanwhile
        never wait behind a chunk being read and computed.
        """
        results = []
        while page_ids:
            done, work = await self.read(prepare, task, page_ids)
            results.append(await self.write(write, task, work))
            page_ids = page_ids[done:]
        return results

    def _run(self, read_only: bool, fn: Callable[..., T], *args: Any) -> T:
        with self.engine.connect() as conn:
            if read_only:
                conn.execution_options(**{READ_ONLY: True})
            with contextlib.nullcontext() if read_only else self._writers, conn.begin():
                return fn(conn, *args)

    async def _off_loop(self, read_only: bool, fn: Callable[..., T], *args: Any) -> T:
        try:
            return await asyncio.to_thread(self._run, read_only, fn, *args)
        except DBAPIError as exc:
            # SQLAlchemy's text carries the statement and its parameters (record values): keep
            # them out of workflow history, say only what failed.
            reason = (str(exc.orig).strip().splitlines()[0][:200] if exc.orig
                      else type(exc).__name__)
            category = (
                "database_unavailable" if isinstance(exc, OperationalError | InterfaceError)
                else "database_error"
            )
            raise ApplicationError(
                f"{category}: {type(exc.orig).__name__}: {reason}", type=category
            ) from None
