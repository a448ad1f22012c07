"""SIGKILL the worker while a fetch walks a run of pages: nothing is lost, duplicated or miscounted.

A connection without a request rate fetches runs of pages, staged a transaction per 1,000
records. A killed attempt leaves some of its run staged; the retry drops them and starts over.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from sqlalchemy import func, select
from temporalio.testing import WorkflowEnvironment

from sandbox.rest_example import PeopleApi
from store.db import engine
from store.schema import staged_pages
from tests.support.polling import until
from tests.support.stacks import stack_factory

PEOPLE = 6_000  # 60 pages of 100: runs of up to 50 pages


class SlowPeople(PeopleApi):
    """Each page takes 40 ms: a run of 50 pages is in flight for two seconds."""

    def select(self, params: Any) -> list[dict[str, Any]]:
        time.sleep(0.04)  # the sandbox server answers on its own thread
        return super().select(params)


def _staged(connection: str) -> int:
    with engine().connect() as conn:
        return conn.execute(select(func.count()).select_from(staged_pages).where(
            staged_pages.c.connection == connection)).scalar_one()


async def test_a_killed_fetch_run_is_redone_whole(
    temporal: WorkflowEnvironment, database_url: str, worker_process: Any
) -> None:
    api = SlowPeople(people=PEOPLE)
    async with stack_factory(temporal.client) as stacks:
        stack = stacks.rest_people(api, path="/v1/people/offset", records_path="data",
                                   pagination={"type": "offset", "limit": 100})
        worker = worker_process()
        handle = await stack.start("people")
        for kill in range(2):
            # Mid-run: some pages of the run staged (1,000 records a transaction), more to come.
            floor = api.requests
            await until(lambda floor=floor: _staged(stack.connection) > 0
                        and api.requests >= floor + 15, 120, "a run part-staged")
            worker.kill()
            print(f"kill {kill + 1}: {api.requests} requests, {_staged(stack.connection)} "
                  "pages staged")
            worker.start()
        summary = await asyncio.wait_for(handle.result(), timeout=300)
        status = await handle.query("status")
    # 60 pages of people and the empty page that ends the offsets.
    assert summary["pages"] == 61 and summary["upserted"] == PEOPLE
    assert status["last_window"]["pages"] == 61  # no page of a killed attempt counted twice
    assert api.requests > 61  # the killed runs were fetched again
    stack.assert_destination_equals_sandbox("people")
