"""What activities share inside one worker process: the HTTP client and database transactions."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import threading
from collections.abc import Callable
from typing import Any, TypeVar

import httpx
import orjson
from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from temporalio.exceptions import ApplicationError

from connectors.base import Connector
from connectors.mapping import Mapping
from connectors.registry import UnknownProvider, build
from store import connections
from store.db import READ_ONLY, engine

T = TypeVar("T")
W = TypeVar("W")
_client: httpx.AsyncClient | None = None


def http() -> httpx.AsyncClient:
    global _client
    if _client is None:
        _client = httpx.AsyncClient(limits=httpx.Limits(max_connections=100))
    return _client


# SQLite has one writer at a time, and a writer that finds the lock taken polls for it, sleeping
# up to 100 ms between tries. This process's writers queue here instead, each woken as soon as
# the one before commits (measured: writers had polled 4.7 s in all during a 7 s sync of
# 100,000 records). Writers build their statements' parameters before they queue.
_SQLITE_WRITER = threading.Lock()


def _in_transaction(read_only: bool, fn: Callable[..., T], *args: Any) -> T:
    eng = engine()
    queue = (_SQLITE_WRITER if not read_only and eng.dialect.name == "sqlite"
             else contextlib.nullcontext())
    with eng.connect() as conn:
        if read_only:
            conn.execution_options(**{READ_ONLY: True})
        with queue, conn.begin():
            return fn(conn, *args)


async def db(fn: Callable[..., T], *args: Any) -> T:
    """Run `fn(conn, ...)` in one transaction on a thread, off the event loop."""
    return await _run(False, fn, *args)


async def read(fn: Callable[..., T], *args: Any) -> T:
    """`db` for `fn`s that only read: on SQLite they never wait for the writer's lock."""
    return await _run(True, fn, *args)


async def _run(read_only: bool, fn: Callable[..., T], *args: Any) -> T:
    try:
        return await asyncio.to_thread(_in_transaction, read_only, fn, *args)
    except DBAPIError as exc:
        # SQLAlchemy's text carries the statement and its parameters (record values): keep
        # them out of workflow history, say only what failed.
        reason = str(exc.orig).strip().splitlines()[0][:200] if exc.orig else type(exc).__name__
        category = (
            "database_unavailable" if isinstance(exc, OperationalError | InterfaceError)
            else "database_error"
        )
        raise ApplicationError(
            f"{category}: {type(exc.orig).__name__}: {reason}", type=category
        ) from None


async def in_transactions(
    prepare: Callable[[Connection, Any, list[int]], tuple[int, W]],
    write: Callable[[Connection, Any, W], T], task: Any, page_ids: list[int],
) -> list[T]:
    """A batch of staged pages, chunk after chunk (see staging.TRANSACTION_RECORDS), until every
    page is done: `prepare(conn, task, pages) -> (pages taken, work)` reads and computes in a
    read-only transaction, then `write(conn, task, work) -> result` in a short write one.

    Only the writes hold SQLite's single writer lock, so fetches staging pages meanwhile never
    wait behind a chunk being read and computed.
    """
    results = []
    while page_ids:
        done, work = await read(prepare, task, page_ids)
        results.append(await db(write, task, work))
        page_ids = page_ids[done:]
    return results


def invalid_input(message: str) -> ApplicationError:
    return ApplicationError(message, type="invalid_input", non_retryable=True)


_SORTED = orjson.OPT_SORT_KEYS


@functools.lru_cache(maxsize=256)
def _built(provider: str, config: bytes) -> tuple[Connector, dict[str, Mapping]]:
    """Connectors are stateless: one per configuration, not one per page (validating a
    configuration and its mappings costs more than a page's staging)."""
    return build(provider, orjson.loads(config))


def connector_for(conn: Connection, connection: str) -> Any:
    """(connector, mappings, connection row) for a connection, or a clear non-retryable error."""
    try:
        row = connections.get(conn, connection)
        connector, mappings = _built(row.provider, orjson.dumps(row.config, option=_SORTED))
    except (connections.UnknownConnection, UnknownProvider) as exc:
        raise invalid_input(str(exc)) from None
    except ValueError as exc:  # pydantic: the stored settings no longer validate
        raise invalid_input(f"connection {connection!r} is misconfigured: {exc}") from None
    return connector, mappings, row
