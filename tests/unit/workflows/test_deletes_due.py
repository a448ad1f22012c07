"""When a stream's deletes pass is due."""

from __future__ import annotations

from activities.models import StreamInfo
from workflows.deletes import due


def _info(every_ms: int | None, last_ms: int | None) -> StreamInfo:
    return StreamInfo("c", "contacts", "hubspot", "t", 0, 0, None,
                      deletes_every_ms=every_ms, deletes_last_run_ms=last_ms)


def test_a_pass_is_due_every_deletes_every_and_never_without_support() -> None:
    hour = 3_600_000
    assert due(_info(hour, None), 0)  # never ran
    assert not due(_info(hour, 10 * hour), 11 * hour - 1)
    assert due(_info(hour, 10 * hour), 11 * hour)
    assert not due(_info(None, None), 10 * hour)  # a connector that lists no archived records
