"""dlt's side of the throughput comparison; runs in its own virtualenv (.venv-dlt, see compare.py).

    .venv-dlt/bin/python bench/dlt_side.py --api URL --database-url URL --dataset NAME \
        --pipelines-dir DIR --page-size 100 --start ISO

dlt's `rest_api` source on the list endpoint: cursor pagination on paging.next.after, an
incremental cursor on updatedAt sent as updatedAfter, merge on id. Destination: PostgreSQL
(`postgres`) or a SQLite file (`sqlalchemy`). Its state lives in --pipelines-dir and in the
destination, so a second run with the same arguments is an incremental one. Prints one JSON line:
seconds (pipeline.run), rows (normalized into the contacts table), peak_rss_kib.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from urllib.parse import urlsplit, urlunsplit

# No telemetry (this machine reaches no analytics endpoint, and the benchmark must not try).
os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")

import dlt  # noqa: E402
from dlt.sources.rest_api import rest_api_source  # noqa: E402
from peak_memory import vm_hwm_kib  # noqa: E402  (this script's directory)


def source(api: str, page_size: int, start: str) -> object:
    return rest_api_source({
        "client": {
            "base_url": api,
            "auth": {"type": "bearer", "token": "x"},
            "paginator": {"type": "cursor", "cursor_path": "paging.next.after",
                          "cursor_param": "after"},
        },
        "resource_defaults": {"primary_key": "id", "write_disposition": "merge"},
        "resources": [{
            "name": "contacts",
            "endpoint": {
                "path": "crm/v3/objects/contacts",
                "data_selector": "results",
                "params": {
                    "limit": page_size,
                    "updatedAfter": {"type": "incremental", "cursor_path": "updatedAt",
                                     "initial_value": start},
                },
            },
        }],
    })


def with_password(url: str) -> str:
    """dlt insists on a password even where the server trusts the client (as the test DB does)."""
    parts = urlsplit(url)
    if parts.password is not None:
        return url
    user, _, host = parts.netloc.rpartition("@")
    return urlunsplit(parts._replace(netloc=f"{user or 'postgres'}:unused@{host}"))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--api", required=True)
    parser.add_argument("--database-url", required=True, help="sqlite:///FILE or postgresql://")
    parser.add_argument("--dataset", required=True, help="PostgreSQL schema (SQLite: main)")
    parser.add_argument("--pipelines-dir", required=True)
    parser.add_argument("--page-size", type=int, default=100)
    parser.add_argument("--start", required=True, help="the incremental cursor's initial value")
    args = parser.parse_args()
    if args.database_url.startswith("sqlite"):
        destination = dlt.destinations.sqlalchemy(credentials=args.database_url)
    else:
        destination = dlt.destinations.postgres(credentials=with_password(args.database_url))
    pipeline = dlt.pipeline(pipeline_name="bench", pipelines_dir=args.pipelines_dir,
                            destination=destination, dataset_name=args.dataset)
    started = time.perf_counter()
    pipeline.run(source(args.api, args.page_size, args.start))
    seconds = time.perf_counter() - started
    normalized = pipeline.last_trace.last_normalize_info
    rows = normalized.row_counts.get("contacts", 0) if normalized else 0
    print(json.dumps({"seconds": seconds, "rows": rows,
                      "peak_rss_kib": vm_hwm_kib()}))


if __name__ == "__main__":
    main()
