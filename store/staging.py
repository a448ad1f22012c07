"""Raw pages staged between fetch and upsert, so pages travel through history by reference."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import orjson
from sqlalchemy import BindParameter, Connection, bindparam, delete, func, select, update

from infra.times import utcnow
from store.columns import fitted
from store.schema import rejected_records, staged_pages, transformed_pages, upserted_pages

# The statements run once per page, built once: building and cache-keying a statement costs
# more than SQLite takes to run it.
_PAGE_ID: BindParameter[int] = bindparam("b_id")
_EXISTING = select(staged_pages.c.id).where(
    staged_pages.c.window_id == bindparam("b_window_id"),
    staged_pages.c.page_no == bindparam("b_page_no"))
_RESTAGE = update(staged_pages).where(staged_pages.c.id == _PAGE_ID).values(
    raw=bindparam("b_raw"), fetched=bindparam("b_fetched"))
_PAGE = select(staged_pages.c.id, staged_pages.c.fetched, staged_pages.c.raw).where(
    staged_pages.c.id == _PAGE_ID)
_PAGE_STATES = select(
    staged_pages.c.id, staged_pages.c.fetched,
    transformed_pages.c.page_id.is_not(None).label("transformed"),
).select_from(staged_pages.outerjoin(
    transformed_pages, transformed_pages.c.page_id == staged_pages.c.id,
)).where(staged_pages.c.id.in_(bindparam("b_page_ids", expanding=True)))
_UNTRANSFORM = delete(transformed_pages).where(transformed_pages.c.page_id == _PAGE_ID)
_SAVE_TRANSFORMED = transformed_pages.insert().values(
    page_id=_PAGE_ID, body=bindparam("b_body"), valid=bindparam("b_valid"),
    rejected=bindparam("b_rejected"))
_UNMARK = delete(upserted_pages).where(upserted_pages.c.page_id == _PAGE_ID)
_LEFTOVER_IDS = select(staged_pages.c.id).where(
    staged_pages.c.window_id == bindparam("b_window_id"),
    staged_pages.c.page_no > bindparam("b_first"), staged_pages.c.page_no < bindparam("b_end"))
_ANY_REJECTED = select(rejected_records.c.id).where(
    rejected_records.c.connection == bindparam("b_connection"),
    rejected_records.c.stream == bindparam("b_stream")).limit(1)


def serialize_records(records: list[dict[str, Any]]) -> str:
    return orjson.dumps(records).decode()


def stage(
    conn: Connection, *, window_id: str, page_no: int, connection: str, stream: str,
    raw: str, fetched: int,
) -> int:
    """Store a fetched page (`raw`: serialize_records, before the write transaction); a retried
    fetch of the same page replaces it. Returns the page id."""
    existing = conn.execute(_EXISTING, {"b_window_id": window_id, "b_page_no": page_no}).scalar()
    if existing is not None:  # its new records are transformed and upserted anew
        conn.execute(_RESTAGE, {"b_id": existing, "b_raw": raw, "b_fetched": fetched})
        conn.execute(_UNTRANSFORM, {"b_id": existing})
        conn.execute(_UNMARK, {"b_id": existing})
        return int(existing)
    result = conn.execute(
        staged_pages.insert().values(
            window_id=window_id, page_no=page_no, connection=connection, stream=stream,
            raw=raw, fetched=fetched, created_at=utcnow(),
        )
    )
    key = result.inserted_primary_key  # None only for statements that insert no row
    return int(key[0])  # type: ignore[index]  # an INSERT of one row: its key's Row


def drop_leftovers(conn: Connection, window_id: str, first_page_no: int, end_page_no: int) -> None:
    """Drop the pages after `first_page_no`, up to `end_page_no`, that an earlier attempt of the
    same fetch run staged: the workflow never saw them, and this attempt may end sooner (the
    provider's data moved), so they must not be loaded or counted."""
    ids = _LEFTOVER_IDS.params(b_window_id=window_id, b_first=first_page_no, b_end=end_page_no)
    for table in (transformed_pages, upserted_pages):
        conn.execute(delete(table).where(table.c.page_id.in_(ids)))
    conn.execute(delete(staged_pages).where(staged_pages.c.id.in_(ids)))


# Transform and upsert commit every this many records: SQLite's one writer lock is never held
# long enough to stall the fetches staging pages meanwhile, and PostgreSQL isn't asked to commit
# per page. Every page is idempotent, so a batch cut by a crash is simply redone.
TRANSACTION_RECORDS = 1_000


def leading_pages(conn: Connection, page_ids: list[int]) -> Iterator[Any]:
    """The first staged pages of `page_ids`, up to TRANSACTION_RECORDS records (at least one):
    (id, fetched, raw)."""
    for state in leading_page_states(conn, page_ids):
        yield page(conn, state.id)


def leading_page_states(conn: Connection, page_ids: list[int]) -> list[Any]:
    """The same pages without their bodies: (id, fetched, transformed: bool)."""
    found = {row.id: row for row in conn.execute(_PAGE_STATES, {"b_page_ids": page_ids})}
    states, seen = [], 0
    for page_id in page_ids:
        if page_id not in found:
            raise _gone(page_id)
        states.append(found[page_id])
        seen += found[page_id].fetched
        if seen >= TRANSACTION_RECORDS:
            break
    return states


def _gone(page_id: int) -> LookupError:
    return LookupError(f"staged page {page_id} is gone (its window was already committed)")


def page(conn: Connection, page_id: int) -> Any:
    row = conn.execute(_PAGE, {"b_id": page_id}).one_or_none()
    if row is None:
        raise _gone(page_id)
    return row


def serialize_rows(rows: list[dict[str, Any]]) -> str:
    """Transformed rows as staged: datetimes as ISO 8601 (orjson's own), decimals as text; the
    database reads them back itself (store.upsert.upsert_transformed)."""
    return orjson.dumps(rows, default=str).decode()


def save_transformed(
    conn: Connection, page_id: int, transformed: str, valid: int, rejected: int
) -> None:
    """A page's transformed rows (serialize_rows); a retried transform replaces them."""
    conn.execute(_UNTRANSFORM, {"b_id": page_id})
    conn.execute(_SAVE_TRANSFORMED, {"b_id": page_id, "b_body": transformed,
                                     "b_valid": valid, "b_rejected": rejected})


def window_totals(conn: Connection, window_id: str) -> Any:
    pages = staged_pages.outerjoin(
        transformed_pages, transformed_pages.c.page_id == staged_pages.c.id,
    ).outerjoin(upserted_pages, upserted_pages.c.page_id == staged_pages.c.id)
    return conn.execute(
        select(
            func.count(staged_pages.c.id).label("pages"),
            func.coalesce(func.sum(upserted_pages.c.upserted), 0).label("upserted"),
            func.coalesce(func.sum(transformed_pages.c.rejected), 0).label("rejected"),
            func.max(upserted_pages.c.max_updated_at).label("max_updated_at"),
        ).select_from(pages).where(staged_pages.c.window_id == window_id)
    ).one()


def drop_window(conn: Connection, window_id: str) -> None:
    ids = select(staged_pages.c.id).where(staged_pages.c.window_id == window_id)
    for table in (transformed_pages, upserted_pages):
        conn.execute(delete(table).where(table.c.page_id.in_(ids)))
    conn.execute(delete(staged_pages).where(staged_pages.c.window_id == window_id))


def reject(
    conn: Connection, *, connection: str, stream: str, window_id: str,
    rejected: list[tuple[str, str, dict[str, Any]]], accepted_ids: list[str],
) -> None:
    """Record (external id, error, payload) rejections; clear the ones that now pass. The id
    and error are stored as their columns can hold them: a record may be rejected for an id
    with a NUL character or longer than any column."""
    if accepted_ids and _has_rejections(conn, connection, stream):
        conn.execute(
            delete(rejected_records).where(
                rejected_records.c.connection == connection,
                rejected_records.c.stream == stream,
                rejected_records.c.external_id.in_(accepted_ids),
            )
        )
    now = utcnow()
    for raw_id, error, payload in rejected:
        external_id = fitted(rejected_records.c.external_id, raw_id)
        values = {"error": fitted(rejected_records.c.error, error),
                  "payload": json.dumps(payload), "window_id": window_id, "rejected_at": now}
        done = conn.execute(
            update(rejected_records).where(
                rejected_records.c.connection == connection,
                rejected_records.c.stream == stream,
                rejected_records.c.external_id == external_id,
            ).values(**values)
        )
        if done.rowcount == 0:
            conn.execute(rejected_records.insert().values(
                connection=connection, stream=stream, external_id=external_id, **values))


def _has_rejections(conn: Connection, connection: str, stream: str) -> bool:
    """Whether the stream has any rejected record: most pages of most streams have none, and
    clearing a page's accepted ids costs a statement with one parameter per record."""
    return conn.execute(
        _ANY_REJECTED, {"b_connection": connection, "b_stream": stream}).first() is not None
