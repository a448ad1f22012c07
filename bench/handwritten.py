"""The simplest hand-written sync: httpx page after page, SQLAlchemy upsert, one commit per page.

    python bench/handwritten.py --api URL --database-url URL --page-size 100 --start ISO

Resumes from the newest updated_at already in its table (the start date on an empty table), so
running it again is an incremental sync. Prints one JSON line: seconds, rows, peak_rss_kib.
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import UTC, datetime
from typing import Any

import httpx
from peak_memory import vm_hwm_kib  # this script's directory
from sqlalchemy import (
    Column,
    DateTime,
    Engine,
    MetaData,
    String,
    Table,
    create_engine,
    event,
    func,
    select,
)
from sqlalchemy.dialects import postgresql, sqlite

PATH = "/crm/v3/objects/contacts"
FIELDS = {"email": "email", "first_name": "firstname", "last_name": "lastname", "phone": "phone",
          "company": "company", "lifecycle_stage": "lifecyclestage"}

metadata = MetaData()
contacts = Table(
    "contacts", metadata,
    Column("id", String(64), primary_key=True),
    *(Column(name, String(320)) for name in FIELDS),
    Column("updated_at", DateTime, nullable=False),
)


def _row(record: dict[str, Any]) -> dict[str, Any]:
    props = record["properties"]
    updated = datetime.fromisoformat(record["updatedAt"]).astimezone(UTC).replace(tzinfo=None)
    return {"id": record["id"], **{col: props.get(src) for col, src in FIELDS.items()},
            "updated_at": updated}


def _upsert(engine: Engine) -> Any:
    insert = (postgresql if engine.dialect.name == "postgresql" else sqlite).insert
    stmt = insert(contacts)
    return stmt.on_conflict_do_update(
        index_elements=[contacts.c.id],
        set_={c.name: stmt.excluded[c.name] for c in contacts.columns if c.name != "id"})


def sync(api: str, engine: Engine, page_size: int, start: str) -> int:
    metadata.create_all(engine)
    with engine.connect() as conn:
        newest = conn.execute(select(func.max(contacts.c.updated_at))).scalar_one()
    since = start if newest is None else newest.isoformat(timespec="milliseconds") + "Z"
    upsert, rows, after = _upsert(engine), 0, None
    with httpx.Client(base_url=api, headers={"Authorization": "Bearer x"}, timeout=60) as http:
        while True:
            params: dict[str, Any] = {"limit": page_size, "updatedAfter": since}
            if after:
                params["after"] = after
            response = http.get(PATH, params=params)
            response.raise_for_status()
            body = response.json()
            if body["results"]:
                with engine.begin() as conn:
                    conn.execute(upsert, [_row(r) for r in body["results"]])
                rows += len(body["results"])
            after = body.get("paging", {}).get("next", {}).get("after")
            if not after:
                return rows


def _wal(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.execute("PRAGMA journal_mode=WAL")
    dbapi_connection.execute("PRAGMA synchronous=NORMAL")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--api", required=True)
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--page-size", type=int, default=100)
    parser.add_argument("--start", required=True, help="ISO-8601 start date of a first sync")
    args = parser.parse_args()
    engine = create_engine(args.database_url)
    if engine.dialect.name == "sqlite":
        # The journal Tributary and dlt use too: a commit per page then costs no fsync each.
        event.listen(engine, "connect", _wal)
    started = time.perf_counter()
    rows = sync(args.api, engine, args.page_size, args.start)
    seconds = time.perf_counter() - started
    engine.dispose()
    print(json.dumps({"seconds": seconds, "rows": rows,
                      "peak_rss_kib": vm_hwm_kib()}))


if __name__ == "__main__":
    main()
