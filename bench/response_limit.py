"""What a 100 MB page costs the worker: read whole before issue 14, refused now.

    git archive 3a24fae | (mkdir -p /tmp/tributary-3a24fae && tar -x -C /tmp/tributary-3a24fae)
    .venv/bin/python bench/response_limit.py --before /tmp/tributary-3a24fae [--mb 100]

Each case runs the fetch_page activity's core (activities.fetch.fetch: the connector's request,
the records serialized and staged in SQLite) in a fresh process of its own against a hostile REST
provider over loopback HTTP (sandbox/hostile_bodies.py, served by this process), and reports that
process's resident set before the fetch and its peak (VmHWM) after. The page is real records
(about 120 bytes each), sent with its Content-Length or chunked without one.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
MIB = 1 << 20


def _child(tree: str, url: str, key: str, mode: str, limit: int | None) -> dict[str, Any]:
    """One fetch in this process with the code of `tree`; what it cost."""
    sys.path.insert(0, tree)
    import httpx
    from temporalio.exceptions import ApplicationError
    from temporalio.testing import ActivityEnvironment

    from activities.fetch import fetch
    from activities.models import FetchRequest, TokenRequest
    from activities.token import refresh
    from bench.peak_memory import vm_hwm_kib  # this process's peak, as every bench reports it
    from connectors.rest_config import load_config
    from infra.transactions import Transactions
    from starter import connections
    from store import vault
    from store.db import engine
    from store.schema import metadata

    metadata.create_all(engine())
    config = load_config(Path(tree) / "connectors" / "examples" / "people_api.toml")
    config["base_url"] = url
    config["streams"]["people"] |= {
        "path": "/v1/hostile/huge", "records_path": "data", "params": {"chunked": "1"} if
        mode == "chunked" else {},
        "pagination": {"type": "cursor", "cursor_path": "next", "param": "cursor"}}
    if limit is not None:
        config["max_response_bytes"] = limit
    connections.add("bench", "rest", "acme", config, vault.Secrets(key, ""))
    db = Transactions.configured()

    async def run() -> str:
        env = ActivityEnvironment()  # an activity's context, as the worker gives it
        await env.run(refresh, db, TokenRequest("bench", "people"))
        before = _rss_kib()
        async with httpx.AsyncClient() as client:
            try:
                ref = await env.run(fetch, db, client, FetchRequest(
                    "bench", "people", "w1", "full_refresh", None, 4_102_444_800_000, 0, None))
                outcome = f"read: {ref.fetched} records staged"
            except ApplicationError as exc:
                outcome = f"refused: {exc.type}"
        return json.dumps({"rss_before_kib": before, "peak_kib": vm_hwm_kib(),
                           "outcome": outcome})

    return {"line": asyncio.run(run())}


def _rss_kib() -> int:
    status = Path("/proc/self/status").read_text()
    return int(status.split("VmRSS:")[1].split()[0])


def measure(tree: Path, url: str, key: str, mode: str, limit: int | None) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as home:
        env = {**os.environ, "TRIBUTARY_HOME": home,
               "DATABASE_URL": f"sqlite:///{home}/tributary.db",
               "TRIBUTARY_VAULT_KEY": os.environ.get("TRIBUTARY_VAULT_KEY") or _fernet_key()}
        args = [sys.executable, __file__, "--child", str(tree), url, key, mode,
                str(limit) if limit is not None else ""]
        out = subprocess.run(args, env=env, capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"the {mode} fetch failed:\n{out.stderr}")
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def _fernet_key() -> str:
    from cryptography.fernet import Fernet
    return Fernet.generate_key().decode()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", type=Path, help="a checkout of the code before the limit")
    parser.add_argument("--mb", type=int, default=100, help="the page's size in MB")
    parser.add_argument("--child", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        tree, url, key, mode, limit = args.child
        print(_child(tree, url, key, mode, int(limit) if limit else None)["line"])
        return

    sys.path.insert(0, str(ROOT))
    from sandbox import SandboxServer
    from sandbox.hostile_bodies import HostileApi, create_app

    api = HostileApi(people=30, page_bytes=args.mb * 1_000_000)
    size = len(api.huge({}))
    cases: list[tuple[str, Path, str, int | None]] = []
    if args.before:
        cases.append(("before (3a24fae): read whole", args.before, "content_length", None))
    cases += [
        ("now, Content-Length, default limit (64 MiB)", ROOT, "content_length", None),
        ("now, chunked, default limit (64 MiB)", ROOT, "chunked", None),
        ("now, chunked, max_response_bytes 256 MiB", ROOT, "chunked", 256 * MIB),
    ]
    print(f"page: {size / 1e6:.1f} MB\n")
    print("| case | outcome | RSS before the fetch | peak RSS | peak − before |")
    print("|---|---|---|---|---|")
    with SandboxServer(api, app=create_app(api)) as server:
        for name, tree, mode, limit in cases:
            got = measure(tree, server.url, api.api_key, mode, limit)
            before, peak = got["rss_before_kib"] / 1024, got["peak_kib"] / 1024
            print(f"| {name} | {got['outcome']} | {before:.0f} MiB | {peak:.0f} MiB | "
                  f"{peak - before:.0f} MiB |", flush=True)


if __name__ == "__main__":
    main()
