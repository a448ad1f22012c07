"""Throughput side by side: Tributary vs dlt vs a hand-written loop, against one local API.

    .venv/bin/python bench/compare.py --records 100000 --page-size 100,1000 \
        --database sqlite,postgresql [--tools tributary,dlt,handwritten] [--json FILE]

For each database, page size and tool: a fresh destination and a fresh API process
(bench/bench_api.py) with the same N records, then a full sync, a no-change incremental sync and
a +1% delta (records modified through the API's control call, then an incremental sync). After
each run the destination table is counted here, with SQLAlchemy, not taken from the tool: N rows,
and after the delta exactly the modified records carry the marker.

- Tributary: the whole durable path. A Temporal dev server, `worker.py` as a subprocess (its peak
  RSS is its VmHWM in /proc), a declarative REST connection, one StreamSync workflow per run;
  the time is execute_workflow's wall time.
- dlt: bench/dlt_side.py in .venv-dlt (created here on first use), `rest_api` source, incremental
  on updatedAt, merge on id; the time is pipeline.run's.
- handwritten: bench/handwritten.py, httpx + SQLAlchemy upsert, a commit per page.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import httpx
from cryptography.fernet import Fernet
from sqlalchemy import column, create_engine, func, select, table, text

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from temporalio.api.enums.v1 import TaskQueueType  # noqa: E402
from temporalio.api.taskqueue.v1 import TaskQueue  # noqa: E402
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest  # noqa: E402
from temporalio.client import Client  # noqa: E402
from temporalio.testing import WorkflowEnvironment  # noqa: E402

from bench.bench_api import MARKER, PATH, start_of_year_before  # noqa: E402
from bench.peak_memory import vm_hwm_kib  # noqa: E402
from infra.rate_limits import DEV_SERVER_ARGS  # noqa: E402
from infra.times import iso, to_ms  # noqa: E402
from starter import connections  # noqa: E402
from store import vault  # noqa: E402
from store.db import engine  # noqa: E402
from store.schema import stream_state  # noqa: E402
from workflows.names import (  # noqa: E402
    DB_QUEUE,
    SEARCH_ATTRIBUTES,
    WORKFLOW_QUEUE,
    WORKFLOW_TYPE,
    provider_queue,
    workflow_id,
)

DLT_VENV = ROOT / ".venv-dlt"
DLT_REQUIREMENT = "dlt[sqlalchemy,postgres]==1.31.0"
POSTGRES_URL = os.environ.get("TEST_DATABASE_URL",
                              "postgresql+psycopg://postgres@127.0.0.1:5432/test")
TOOLS = ("tributary", "dlt", "handwritten")
PHASES = ("full", "no_change", "delta")
CONNECTION = "bench"


@dataclass
class Phase:
    seconds: float
    rows: int  # as the tool reports it; the destination is counted separately


@dataclass
class Result:
    tool: str
    database: str
    page_size: int
    records: int
    phases: dict[str, Phase] = field(default_factory=dict)
    modified: int = 0
    peak_rss_kib: int = 0

    def row(self) -> str:
        full = self.phases["full"].seconds
        return (f"| {self.tool} | {self.database} | {self.page_size:,} | {self.records:,} | "
                f"{full:.2f} | {self.records / full:,.0f} | "
                f"{self.phases['no_change'].seconds:.2f} | {self.phases['delta'].seconds:.2f} | "
                f"{self.peak_rss_kib / 1024:.0f} |")


HEADER = ("| tool | database | page size | records | full s | full rec/s | no-change s | "
          "+1% delta s | peak RSS MiB |\n|---|---|---:|---:|---:|---:|---:|---:|---:|")


# -- the API ----------------------------------------------------------------------------------
@dataclass
class Api:
    url: str

    def modify(self, fraction: float) -> int:
        response = httpx.post(f"{self.url}/_bench/modify", json={"fraction": fraction},
                              timeout=60)
        response.raise_for_status()
        return int(response.json()["modified"])


@contextmanager
def api(records: int, now: datetime, latency_ms: int) -> Iterator[Api]:
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "bench" / "bench_api.py"), "--records", str(records),
         "--now", iso(to_ms(now)), "--latency-ms", str(latency_ms)],
        stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        line = process.stdout.readline()  # printed once the port listens
        if not line:
            raise RuntimeError(f"bench_api.py exited with {process.wait()}")
        yield Api(f"http://127.0.0.1:{json.loads(line)['port']}")
    finally:
        process.terminate()
        process.wait(timeout=30)


# -- destinations -----------------------------------------------------------------------------
@dataclass
class Destination:
    database: str
    url: str  # SQLAlchemy URL (PostgreSQL: search_path = schema)
    schema: str | None  # PostgreSQL only
    workdir: Path


_SCHEMAS = itertools.count()


@contextmanager
def destination(database: str, tool: str) -> Iterator[Destination]:
    workdir = Path(tempfile.mkdtemp(prefix=f"bench-{tool}-"))
    # A name never used before: Tributary's engines are cached per URL, tables made once.
    schema = f"bench_{tool}_{os.getpid()}_{next(_SCHEMAS)}" if database == "postgresql" else None
    admin = create_engine(POSTGRES_URL) if schema else None
    try:
        if admin is not None:
            with admin.begin() as conn:
                conn.execute(text(f"CREATE SCHEMA {schema}"))
            url = f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"
        else:
            url = f"sqlite:///{workdir / 'destination.db'}"
        yield Destination(database, url, schema, workdir)
    finally:
        if admin is not None:
            with admin.begin() as conn:  # dlt adds a staging schema beside its own
                for name in (schema, f"{schema}_staging"):
                    conn.execute(text(f"DROP SCHEMA IF EXISTS {name} CASCADE"))
            admin.dispose()
        shutil.rmtree(workdir, ignore_errors=True)


def count(url: str, marker_column: str, marker: str,
          where: dict[str, str] | None = None) -> tuple[int, int]:
    """(rows, rows carrying the marker) of the contacts table, counted by us."""
    where = where or {}
    contacts = table("contacts", column(marker_column), *map(column, where))
    conditions = [contacts.c[k] == v for k, v in where.items()]
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(select(func.count()).select_from(contacts)
                                .where(*conditions)).scalar_one()
            marked = conn.execute(select(func.count()).select_from(contacts).where(
                *conditions, contacts.c[marker_column] == marker)).scalar_one()
    finally:
        engine.dispose()
    return rows, marked


# -- the tools --------------------------------------------------------------------------------
class Tool(Protocol):
    async def sync(self, n: int) -> Phase: ...

    def counts(self, marker: str) -> tuple[int, int]: ...

    def peak_rss_kib(self) -> int: ...


@dataclass
class Args:
    records: int
    page_size: int
    start: str
    parallel_fetches: int | None
    timeout_s: float
    phone_e164: bool = False
    latency_ms: int = 0


def _json_line(command: list[str], cwd: Path, env: dict[str, str], log: Path) -> dict[str, Any]:
    with log.open("a") as err:
        done = subprocess.run(command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=err,
                              text=True)
    if done.returncode:
        raise RuntimeError(f"{command[1]} failed ({done.returncode}); see the tail of {log}:\n"
                           + "\n".join(log.read_text().splitlines()[-20:]))
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


@dataclass
class Subprocess:
    """A tool that is one process per sync and reports its own time, rows and peak RSS."""

    command: list[str]
    cwd: Path
    env: dict[str, str]
    count_url: str
    marker_column: str
    peak: int = 0

    async def sync(self, n: int) -> Phase:
        out = _json_line(self.command, self.cwd, self.env, self.cwd / "tool.log")
        self.peak = max(self.peak, int(out["peak_rss_kib"]))
        return Phase(float(out["seconds"]), int(out["rows"]))

    def counts(self, marker: str) -> tuple[int, int]:
        return count(self.count_url, self.marker_column, marker)

    def peak_rss_kib(self) -> int:
        return self.peak


@asynccontextmanager
async def handwritten(api_: Api, dest: Destination, args: Args) -> AsyncIterator[Tool]:
    yield Subprocess(
        [sys.executable, str(ROOT / "bench" / "handwritten.py"), "--api", api_.url,
         "--database-url", dest.url, "--page-size", str(args.page_size), "--start", args.start],
        dest.workdir, dict(os.environ), dest.url, "lifecycle_stage")


def ensure_dlt() -> Path:
    """.venv-dlt/bin/python with dlt installed (a virtualenv of its own, apart from .venv)."""
    python = DLT_VENV / "bin" / "python"
    version = DLT_REQUIREMENT.rpartition("==")[2]
    probe = [str(python), "-c", "import dlt; print(dlt.__version__)"]
    if python.exists() and subprocess.run(probe, capture_output=True, text=True).stdout.strip() \
            == version:
        return python
    print(f"installing {DLT_REQUIREMENT} into {DLT_VENV} ...", file=sys.stderr)
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(DLT_VENV)], check=True)
    (DLT_VENV / ".gitignore").write_text("*\n")  # keep it out of `git status` on its own
    subprocess.run([str(python), "-m", "pip", "install", "-q", DLT_REQUIREMENT], check=True)
    return python


@asynccontextmanager
async def dlt(api_: Api, dest: Destination, args: Args) -> AsyncIterator[Tool]:
    # PostgreSQL: dlt's dataset is our fresh schema (dlt adds `<schema>_staging` beside it for
    # merges); SQLite: `main` keeps its tables in the destination file itself.
    url = POSTGRES_URL.replace("+psycopg", "") if dest.schema else dest.url
    yield Subprocess(
        [str(ensure_dlt()), str(ROOT / "bench" / "dlt_side.py"), "--api", api_.url,
         "--database-url", url, "--dataset", dest.schema or "main",
         "--pipelines-dir", str(dest.workdir / "pipelines"), "--page-size", str(args.page_size),
         "--start", args.start],
        dest.workdir, {**os.environ, "RUNTIME__DLTHUB_TELEMETRY": "false"}, dest.url,
        "properties__lifecyclestage")


def rest_config(url: str, args: Args) -> dict[str, Any]:
    """The list endpoint as a declarative REST connection, mapped as the HubSpot-like example.

    Phones are copied as they come, as dlt and the hand-written loop store them; E.164
    normalization is extra work neither of them does (--phone-e164 turns it on).
    """
    example = tomllib.loads((ROOT / "connectors" / "examples" / "hubspot_like.toml").read_text())
    mapping = example["streams"]["contacts"]["mapping"]
    if not args.phone_e164:
        mapping["fields"]["phone"] = {"source": "properties.phone"}
    return {
        "base_url": url,
        "auth": {"type": "oauth2_refresh_token", "token_url": "/oauth/v1/token",
                 "client_id": "bench"},
        "start_date": args.start,
        **({} if args.parallel_fetches is None else {"parallel_fetches": args.parallel_fetches}),
        "streams": {"contacts": {
            "path": PATH, "params": {"limit": args.page_size}, "records_path": "results",
            "primary_key": "id", "cursor_field": "updatedAt", "cursor_format": "iso8601",
            "pagination": {"type": "cursor", "cursor_path": "paging.next.after",
                           "param": "after"},
            "incremental": {"start_param": "updatedAfter", "end_param": "updatedBefore",
                            "format": "iso8601"},
            "mapping": mapping,
        }},
    }


@dataclass
class Tributary:
    client: Client
    worker: subprocess.Popen[bytes]
    url: str
    timeout_s: float

    async def sync(self, n: int) -> Phase:
        before = self._synced()
        started = time.perf_counter()
        await asyncio.wait_for(self.client.execute_workflow(
            WORKFLOW_TYPE, {"connection": CONNECTION, "stream": "contacts"},
            id=f"{workflow_id(CONNECTION, 'contacts')}-{n}", task_queue=WORKFLOW_QUEUE),
            self.timeout_s)
        return Phase(time.perf_counter() - started, self._synced() - before)

    def _synced(self) -> int:
        with engine(self.url).connect() as conn:
            synced = conn.execute(select(stream_state.c.records_synced).where(
                stream_state.c.connection == CONNECTION)).scalar_one_or_none()
        return synced or 0

    def counts(self, marker: str) -> tuple[int, int]:
        return count(self.url, "lifecycle_stage", marker, {"connection": CONNECTION})

    def peak_rss_kib(self) -> int:
        return vm_hwm_kib(self.worker.pid)


async def _wait_for_pollers(client: Client, worker: subprocess.Popen[bytes]) -> None:
    """Until the worker polls every queue a sync uses: its start-up is not the sync's time."""
    queues = [(WORKFLOW_QUEUE, TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW),
              (DB_QUEUE, TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY),
              (provider_queue("rest"), TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY)]
    deadline = time.monotonic() + 120
    while True:
        described = [await client.workflow_service.describe_task_queue(DescribeTaskQueueRequest(
            namespace=client.namespace, task_queue=TaskQueue(name=name), task_queue_type=kind))
            for name, kind in queues]
        if all(d.pollers for d in described):
            return
        if worker.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"the worker did not start polling (exit code {worker.poll()})")
        await asyncio.sleep(0.2)


@contextmanager
def _stdout_to_stderr() -> Iterator[None]:
    """Child processes started inside inherit stderr as their stdout."""
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(2, 1)
    try:
        yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)


@asynccontextmanager
async def tributary(api_: Api, dest: Destination, args: Args) -> AsyncIterator[Tool]:
    connections.add(CONNECTION, "rest", "bench", rest_config(api_.url, args),
                    vault.Secrets("bench-secret", "bench-refresh"), db=engine(dest.url))
    temporal = shutil.which("temporal") or str(Path(sys.executable).with_name("temporal"))
    with _stdout_to_stderr():  # the dev server prints a banner that is not part of the table
        env = await WorkflowEnvironment.start_local(
            dev_server_existing_path=temporal, search_attributes=SEARCH_ATTRIBUTES,
            dev_server_log_level="error", dev_server_extra_args=DEV_SERVER_ARGS)
    async with env:
        log = (dest.workdir / "worker.log").open("wb")
        worker = subprocess.Popen(
            [sys.executable, str(ROOT / "worker.py")], cwd=ROOT, stdout=log,
            stderr=subprocess.STDOUT, env={
                **os.environ, "TEMPORAL_ADDRESS": env.client.service_client.config.target_host,
                "DATABASE_URL": dest.url, "TRIBUTARY_HOME": str(dest.workdir / "home"),
                # No metrics port to collide with, no staleness sweeps: only the syncs run.
                "TRIBUTARY_METRICS_PORT": "0", "TRIBUTARY_STALENESS_CHECK_S": "0"})
        try:
            await _wait_for_pollers(env.client, worker)
            yield Tributary(env.client, worker, dest.url, args.timeout_s)
        finally:
            worker.terminate()
            worker.wait(timeout=60)
            log.close()
            engine(dest.url).dispose()


FACTORIES = {"tributary": tributary, "dlt": dlt, "handwritten": handwritten}


class CheckFailed(AssertionError):
    """The destination does not hold what the API holds: the run's figures are void."""


async def scenario(tool: str, database: str, args: Args, delta: float, now: datetime) -> Result:
    result = Result(tool, database, args.page_size, args.records)
    with api(args.records, now, args.latency_ms) as api_, destination(database, tool) as dest:
        async with FACTORIES[tool](api_, dest, args) as runner:
            for n, phase in enumerate(PHASES):
                if phase == "delta":
                    result.modified = api_.modify(delta)
                result.phases[phase] = await runner.sync(n)
                # Before the delta no record carries the marker; after it, exactly those changed.
                rows, marked = runner.counts(MARKER)
                if (rows, marked) != (args.records, result.modified):
                    raise CheckFailed(
                        f"{tool} on {database}, page size {args.page_size}, after the {phase} "
                        f"sync: {rows} rows ({args.records} expected), {marked} modified "
                        f"({result.modified} expected)")
            result.peak_rss_kib = runner.peak_rss_kib()
    return result


def _csv(kind: type, choices: tuple[str, ...] | None = None) -> Any:
    def parse(value: str) -> list[Any]:
        items = [kind(v) for v in value.split(",") if v]
        bad = [v for v in items if choices is not None and v not in choices]
        if bad or not items:
            raise argparse.ArgumentTypeError(f"expected a comma-separated list of {choices}")
        return items
    return parse


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--page-size", type=_csv(int), default=[100], help="e.g. 100,1000")
    parser.add_argument("--database", type=_csv(str, ("sqlite", "postgresql")),
                        default=["sqlite"], help="sqlite, postgresql or both")
    parser.add_argument("--tools", type=_csv(str, TOOLS), default=list(TOOLS))
    parser.add_argument("--parallel-fetches", type=int,
                        help="Tributary's parallel_fetches setting (default: its own, 4)")
    parser.add_argument("--delta", type=float, default=0.01, help="fraction modified")
    parser.add_argument("--phone-e164", action="store_true",
                        help="Tributary also normalizes phones to E.164 (the others don't)")
    parser.add_argument("--timeout-s", type=float, default=1800, help="per sync")
    parser.add_argument("--api-latency-ms", type=int, default=0,
                        help="the API answers every page this much later (a remote API)")
    parser.add_argument("--json", type=Path, help="write the raw results here")
    opts = parser.parse_args()
    os.environ["TRIBUTARY_VAULT_KEY"] = Fernet.generate_key().decode()
    if "dlt" in opts.tools:
        ensure_dlt()
    now = datetime.now(UTC).replace(microsecond=0)
    start = iso(to_ms(start_of_year_before(now)))
    report: dict[str, Any] = {
        "command": " ".join([".venv/bin/python", "bench/compare.py", *sys.argv[1:]]),
        "started_at": now.isoformat(), "cpus": os.cpu_count(), "dlt": DLT_REQUIREMENT,
        "start_date": start, "results": []}
    results: list[Result] = []
    print(HEADER, flush=True)
    for database in opts.database:
        for page_size in opts.page_size:
            args = Args(opts.records, page_size, start, opts.parallel_fetches, opts.timeout_s,
                        opts.phone_e164, opts.api_latency_ms)
            for tool in opts.tools:
                result = await scenario(tool, database, args, opts.delta, now)
                results.append(result)
                print(result.row(), flush=True)
                if opts.json:  # after every scenario: a later failure keeps what was measured
                    report["results"] = [
                        {**asdict(r), "full_records_per_s": r.records / r.phases["full"].seconds}
                        for r in results]
                    opts.json.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    asyncio.run(main())
    sys.stdout.flush()
    os._exit(0)  # the Temporal SDK's runtime can abort during interpreter teardown
