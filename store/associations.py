"""Associations as read from the provider: an idempotent upsert, removals archived, and where a
stream's periodic re-read of every record's associations stands."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import Connection, Table, select, update

from store.schema import association_reconciles, associations, transformed_pages
from store.upsert import _insert

# (to external id, type id, category, label)
Found = tuple[str, int, str, "str | None"]
_KEY = ("connection", "from_entity", "from_external_id", "to_entity", "to_external_id",
        "type_id")


def loaded_ids(conn: Connection, page_ids: list[int]) -> list[str]:
    """The external ids of the live records these transformed pages loaded, sorted, once each."""
    ids: set[str] = set()
    bodies: Iterable[str] = conn.execute(select(transformed_pages.c.body)
                          .where(transformed_pages.c.page_id.in_(page_ids))).scalars()
    for body in bodies:
        ids.update(str(row["external_id"]) for row in orjson.loads(body)
                   if not row.get("archived"))
    return sorted(ids)


def stream_ids(conn: Connection, table: Table, connection: str, stream: str,
               after: str | None, limit: int) -> list[str]:
    """The next `limit` live records of a stream in external id order, after `after`."""
    query = select(table.c.external_id).where(
        table.c.connection == connection, table.c.stream == stream, table.c.archived.is_(False))
    if after is not None:
        query = query.where(table.c.external_id > after)
    return list(conn.execute(query.order_by(table.c.external_id).limit(limit)).scalars())


def save(conn: Connection, connection: str, from_entity: str, to_entity: str,
         found: Mapping[str, Iterable[Found]], complete: Iterable[str],
         synced_at: datetime) -> tuple[int, int]:
    """Upsert what was found (live again if it was archived) and archive what is stored for a
    `complete` record and absent from its set; return (associations found, archived).

    As the canonical tables' upsert: a re-run that finds the same writes nothing, synced_at
    included."""
    rows = {(from_id, to_id, type_id): {"category": category, "label": label}
            for from_id, items in found.items() for to_id, type_id, category, label in items}
    if rows:
        insert = _insert(conn.dialect)(associations)
        changed = (associations.c.archived
                   | associations.c.category.is_distinct_from(insert.excluded.category)
                   | associations.c.label.is_distinct_from(insert.excluded.label))
        statement = insert.on_conflict_do_update(
            index_elements=list(_KEY), where=changed,
            set_={"archived": False, "category": insert.excluded.category,
                  "label": insert.excluded.label, "synced_at": insert.excluded.synced_at})
        conn.execute(statement, [
            {"connection": connection, "from_entity": from_entity, "from_external_id": from_id,
             "to_entity": to_entity, "to_external_id": to_id, "type_id": type_id,
             "archived": False, "synced_at": synced_at, **values}
            for (from_id, to_id, type_id), values in rows.items()])
    complete = sorted(set(complete))
    if not complete:
        return len(rows), 0
    stored = conn.execute(select(
        associations.c.id, associations.c.from_external_id, associations.c.to_external_id,
        associations.c.type_id,
    ).where(associations.c.connection == connection,
            associations.c.from_entity == from_entity, associations.c.to_entity == to_entity,
            associations.c.from_external_id.in_(complete), associations.c.archived.is_(False)))
    gone = [row.id for row in stored
            if (row.from_external_id, row.to_external_id, row.type_id) not in rows]
    if gone:
        conn.execute(update(associations).where(associations.c.id.in_(gone))
                     .values(archived=True, synced_at=synced_at))
    return len(rows), len(gone)


# -- the periodic re-read ------------------------------------------------------------------
def reconcile_state(conn: Connection, connection: str, stream: str) -> Any:
    return conn.execute(select(association_reconciles).where(
        association_reconciles.c.connection == connection,
        association_reconciles.c.stream == stream)).one_or_none()


def reconcile_due(state: Any, every_s: int | None, now: datetime) -> bool:
    """A pass is due when one is under way, or the last ended `every_s` ago (no state yet: the
    first one starts the clock, the first sync having read every record's associations)."""
    if every_s is None:
        return False
    if state is None or state.cursor is not None or state.finished_at is None:
        return True
    return bool(now - state.finished_at >= timedelta(seconds=every_s))


def reconcile_progress(conn: Connection, connection: str, stream: str, cursor: str | None,
                       now: datetime) -> None:
    """Record a pass's progress: the last id done, or None when it has ended (now)."""
    state = reconcile_state(conn, connection, stream)
    values: dict[str, Any] = {"cursor": cursor}
    if cursor is None:
        values["finished_at"] = now
    if state is None:
        conn.execute(association_reconciles.insert().values(
            connection=connection, stream=stream, started_at=now, **values))
        return
    if state.cursor is None:  # this batch began a pass
        values["started_at"] = now
    conn.execute(update(association_reconciles).where(
        association_reconciles.c.connection == connection,
        association_reconciles.c.stream == stream).values(**values))
