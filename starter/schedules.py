"""Temporal Schedules as the alternative to `every`: one schedule per stream, never overlapping.

A stream is either `every`-driven (one long-lived workflow `sync/<connection>/<stream>`) or
schedule-driven (schedule `sync/<connection>/<stream>`, whose action starts a one-cycle StreamSync;
Temporal names each run `sync/<connection>/<stream>-<scheduled time>`). The starter refuses to mix
them, and the schedule's policies keep one run per stream at a time:
- overlap SKIP: a run still going at the next scheduled time skips that time (the next run's
  incremental window picks up whatever changed meanwhile);
- `trigger` uses BUFFER_ONE: it starts as soon as the running one finishes, never beside it;
- catch-up window of one minute: after an outage one run catches up, not one per missed time;
- `backfill` pauses the schedule, waits for a running run to finish, runs the backfill window as
  `sync/<connection>/<stream>`, and unpauses.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionExecutionStartWorkflow,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleHandle,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleState,
    WorkflowExecutionStatus,
    WorkflowFailureError,
)
from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from infra.times import now_ms
from starter.errors import USAGE, CliError
from starter.syncs import check_stream
from starter.temporal_client import connect_or_fail
from store import connections
from store.db import engine
from workflows.inputs import every_seconds, parse_backfill, parse_input
from workflows.names import (
    CONNECTION,
    PROVIDER,
    STREAM,
    TENANT,
    WORKFLOW_QUEUE,
    WORKFLOW_TYPE,
    workflow_id,
)

OVERLAP = ScheduleOverlapPolicy.SKIP
TRIGGER_OVERLAP = ScheduleOverlapPolicy.BUFFER_ONE
CATCHUP_WINDOW = timedelta(minutes=1)
RUNNING_POLL_S = 1.0


def schedule_id(connection: str, stream: str) -> str:
    """Schedules have their own id space: the stream's schedule shares its workflow id."""
    return workflow_id(connection, stream)


def _spec(every: str | None, cron: str | None) -> tuple[ScheduleSpec, str]:
    if (every is None) == (cron is None):
        raise CliError("give exactly one of --every 15m or --cron '*/15 * * * *'", USAGE)
    if every is not None:
        try:
            seconds = every_seconds(every)
        except ValueError as exc:
            raise CliError(str(exc), USAGE) from None
        return ScheduleSpec(intervals=[ScheduleIntervalSpec(every=timedelta(seconds=seconds))]), \
            f"every {every}"
    return ScheduleSpec(cron_expressions=[cron or ""]), f"cron {cron}"


async def _refuse_running_sync(client: Client, connection: str, stream: str) -> None:
    wid = workflow_id(connection, stream)
    try:
        described = await client.get_workflow_handle(wid).describe()
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return
        raise
    if described.status == WorkflowExecutionStatus.RUNNING:
        raise CliError(f"{connection}/{stream} already runs as workflow {wid} (`every`-driven); "
                       f"a stream is either every-driven or schedule-driven: cancel that workflow "
                       f"(`temporal workflow cancel --workflow-id {wid}`) first", USAGE)


async def create(
    connection: str, stream: str, every: str | None, cron: str | None,
    client: Client | None = None,
) -> str:
    spec, described = _spec(every, cron)
    check_stream(connection, stream)
    with engine().connect() as conn:
        row = connections.get(conn, connection)
    client = client or await connect_or_fail()
    await _refuse_running_sync(client, connection, stream)
    params = {"connection": connection, "stream": stream}
    action = ScheduleActionStartWorkflow(
        WORKFLOW_TYPE, params, id=workflow_id(connection, stream), task_queue=WORKFLOW_QUEUE,
        # Set at start so fleet queries and `status` find a run before it tags itself.
        typed_search_attributes=TypedSearchAttributes([
            SearchAttributePair(CONNECTION, connection), SearchAttributePair(STREAM, stream),
            SearchAttributePair(PROVIDER, row.provider), SearchAttributePair(TENANT, row.tenant),
        ]),
    )
    sid = schedule_id(connection, stream)
    schedule = Schedule(
        action=action, spec=spec,
        policy=SchedulePolicy(overlap=OVERLAP, catchup_window=CATCHUP_WINDOW),
        state=ScheduleState(note=f"created by `python -m starter schedule create` ({described})"),
    )
    try:
        await client.create_schedule(sid, schedule)
    except ScheduleAlreadyRunningError:
        raise CliError(f"schedule {sid} already exists; delete it first to change it",
                       USAGE) from None
    except RPCError as exc:
        if exc.status == RPCStatusCode.INVALID_ARGUMENT:
            raise CliError(f"Temporal refused the schedule: {exc.message}", USAGE) from None
        raise
    return sid


async def handle(connection: str, stream: str, client: Client | None = None) -> ScheduleHandle:
    """The stream's schedule, or a clear error when it has none."""
    client = client or await connect_or_fail()
    sid = schedule_id(connection, stream)
    found = client.get_schedule_handle(sid)
    try:
        await found.describe()
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            raise CliError(f"no schedule {sid}; create one with `python -m starter schedule "
                           f"create {connection} {stream} --every 15m`", USAGE) from None
        raise
    return found


async def exists(client: Client, connection: str, stream: str) -> bool:
    try:
        await client.get_schedule_handle(schedule_id(connection, stream)).describe()
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return False
        raise
    return True


async def trigger(connection: str, stream: str, client: Client | None = None) -> None:
    await (await handle(connection, stream, client)).trigger(overlap=TRIGGER_OVERLAP)


async def pause(connection: str, stream: str, client: Client | None = None) -> None:
    await (await handle(connection, stream, client)).pause(
        note="paused with `python -m starter schedule pause`")


async def unpause(connection: str, stream: str, client: Client | None = None) -> None:
    await (await handle(connection, stream, client)).unpause(
        note="unpaused with `python -m starter schedule unpause`")


async def delete(connection: str, stream: str, client: Client | None = None) -> None:
    await (await handle(connection, stream, client)).delete()


@dataclass
class Listed:
    id: str
    spec: str
    paused: bool
    note: str
    next_run: datetime | None
    last_run: datetime | None


def _every(interval: timedelta) -> str:
    seconds = int(interval.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _describe_spec(spec: ScheduleSpec) -> str:
    parts = [f"every {_every(i.every)}" for i in spec.intervals]
    parts += [f"cron {c}" for c in spec.cron_expressions]
    parts += ["calendar" for _ in spec.calendars]
    return ", ".join(parts) or "-"


async def list_(client: Client | None = None) -> list[Listed]:
    client = client or await connect_or_fail()
    found = []
    async for entry in await client.list_schedules():
        if not entry.id.startswith("sync/"):
            continue
        described = await client.get_schedule_handle(entry.id).describe()
        info, schedule = described.info, described.schedule
        found.append(Listed(
            id=entry.id, spec=_describe_spec(schedule.spec), paused=schedule.state.paused,
            note=schedule.state.note or "",
            next_run=info.next_action_times[0] if info.next_action_times else None,
            last_run=info.recent_actions[-1].started_at if info.recent_actions else None,
        ))
    return sorted(found, key=lambda item: item.id)


async def backfill(
    connection: str, stream: str, since: str, until: str, client: Client | None = None,
    say: Callable[[str], None] = lambda _: None,
) -> dict[str, Any]:
    """Re-sync [since, until) of a schedule-driven stream without moving its watermark."""
    window = {"since": since, "until": until}
    try:
        parse_backfill(window, now_ms())
    except ValueError as exc:
        raise CliError(str(exc), USAGE) from None
    # cycle false: the backfill window only; incremental cycles belong to the scheduled runs.
    params = {"connection": connection, "stream": stream, "backfills": [window], "cycle": False}
    parse_input(params, now_ms())
    client = client or await connect_or_fail()
    schedule = await handle(connection, stream, client)
    wid = workflow_id(connection, stream)
    paused_here = not (await schedule.describe()).schedule.state.paused
    if paused_here:
        await schedule.pause(note=f"paused by `schedule backfill` {since} → {until} while it runs "
                             f"as {wid}; unpause once that workflow has finished")
    try:
        while running := (await schedule.describe()).info.running_actions:
            # A StreamSync schedule's only action starts a workflow.
            first = cast(ScheduleActionExecutionStartWorkflow, running[0])
            say(f"waiting for the scheduled run {first.workflow_id} to finish…")
            await asyncio.sleep(RUNNING_POLL_S)  # a poll of the server, not a synchronisation
        run = await client.start_workflow(WORKFLOW_TYPE, params, id=wid, task_queue=WORKFLOW_QUEUE)
    except WorkflowAlreadyStartedError:
        if paused_here:
            await schedule.unpause(note="backfill did not start")
        raise CliError(f"workflow {wid} is running (started by hand?); wait for it or cancel it, "
                       "then backfill") from None
    except BaseException:
        if paused_here:
            await schedule.unpause(note="backfill did not start")
        raise
    say(f"backfill running as workflow {wid} (run {run.result_run_id}); the schedule is paused "
        "until it finishes")
    try:
        summary: dict[str, Any] = await run.result()
    except WorkflowFailureError as exc:
        if paused_here:
            await schedule.unpause(note="backfill failed")
        raise CliError(f"the backfill failed: {exc.cause}") from None
    if paused_here:
        await schedule.unpause(note="backfill finished")
    return summary
