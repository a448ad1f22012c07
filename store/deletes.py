"""Soft deletes from a provider's list of archived records, and the record of each deletes pass.

A row is archived when the provider archived its record after the row's source version
(archivedAt at or after `source_updated_at`); the archive becomes the row's source version, so
the upsert's never-regress rule (store.upsert) keeps every older version from reviving it. A
row whose version is newer than the archive (restored and changed since) stays live.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Table, bindparam, select, update

from store.schema import delete_passes


def soft_delete(
    conn: Connection, table: Table, *, connection: str, stream: str,
    archived: list[tuple[str, datetime]], synced_at: datetime,
) -> int:
    """Archive the rows of (external id, archived at) the provider archived after their version;
    the rows archived now (rows already archived count once, when they were)."""
    if not archived:
        return 0
    statement = update(table).where(
        table.c.connection == bindparam("b_connection"),
        table.c.stream == bindparam("b_stream"),
        table.c.external_id == bindparam("b_id"),
        table.c.archived.is_(False),
        table.c.source_updated_at <= bindparam("b_at"),
    ).values(archived=True, source_updated_at=bindparam("b_at"), synced_at=synced_at)
    count = 0
    for external_id, at in archived:  # one by one: an executemany's rowcount is not portable
        count += conn.execute(statement, {"b_connection": connection, "b_stream": stream,
                                          "b_id": external_id, "b_at": at}).rowcount
    return count


def _key(connection: str, stream: str) -> Any:
    return (delete_passes.c.connection == connection) & (delete_passes.c.stream == stream)


def last_run(conn: Connection, connection: str, stream: str) -> datetime | None:
    """When the stream's last completed deletes pass started; None: never."""
    return conn.execute(select(delete_passes.c.last_run_at)
                        .where(_key(connection, stream))).scalar()


def record_pass(conn: Connection, connection: str, stream: str, started_at: datetime,
                archived: int, finished_at: datetime) -> None:
    """A completed pass; a retried final step (the same start) is not counted twice."""
    row = conn.execute(select(delete_passes).where(_key(connection, stream))
                       .with_for_update()).one_or_none()
    if row is None:
        conn.execute(delete_passes.insert().values(
            connection=connection, stream=stream, last_run_at=started_at,
            finished_at=finished_at, archived_count=archived, archived_total=archived))
    elif row.last_run_at != started_at:
        conn.execute(update(delete_passes).where(_key(connection, stream)).values(
            last_run_at=started_at, finished_at=finished_at, archived_count=archived,
            archived_total=delete_passes.c.archived_total + archived))
