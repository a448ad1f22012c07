"""The per-worker limiter: even spacing per connection, independent connections, a free loop."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from infra import limiter
from infra.limiter import KeyedLimiter, Saturated


@pytest.fixture
def local_mode(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    monkeypatch.delenv(limiter.FORCE_ENV, raising=False)
    monkeypatch.delenv(limiter.WORKERS_ENV, raising=False)
    yield monkeypatch
    limiter.configure(server_enforces=True)


def test_slots_are_spaced_per_key_and_keys_are_independent() -> None:
    frozen = KeyedLimiter(clock=lambda: 100.0)  # every caller arrives at the same instant
    assert [frozen.reserve("acme", rate=4) for _ in range(4)] == [0.0, 0.25, 0.5, 0.75]
    assert [frozen.reserve("globex", rate=2) for _ in range(3)] == [0.0, 0.5, 1.0]
    assert frozen.reserve("acme", rate=4) == 1.0


def test_a_slot_too_far_away_is_refused_without_taking_it() -> None:
    frozen = KeyedLimiter(clock=lambda: 0.0)
    assert frozen.reserve("acme", rate=0.1, max_wait_s=15) == 0.0
    assert frozen.reserve("acme", rate=0.1, max_wait_s=15) == 10.0
    with pytest.raises(Saturated) as refused:
        frozen.reserve("acme", rate=0.1, max_wait_s=15)
    assert refused.value.wait_s == 20.0
    # The refusal took nothing: with more patience, the same slot is still the next one.
    assert frozen.reserve("acme", rate=0.1, max_wait_s=30) == 20.0
    with pytest.raises(ValueError):
        frozen.reserve("acme", rate=0)


async def test_waiting_callers_leave_the_loop_and_other_keys_alone() -> None:
    shared = KeyedLimiter()
    order: list[str] = []

    async def call(key: str, n: int) -> None:
        await shared.acquire(key, rate=5)  # 0.2 s between two calls of one key
        order.append(f"{key}{n}")

    async def other_work() -> None:  # stands in for heartbeats: it needs the loop to run
        await asyncio.sleep(0)
        order.append("loop")

    await asyncio.gather(call("a", 1), call("a", 2), call("a", 3), call("b", 1), other_work())
    # b's first call does not queue behind a's; the loop ran while a2 and a3 waited; a's calls
    # come out in the order they reserved their slots.
    assert order == ["a1", "b1", "loop", "a2", "a3"]


async def test_pace_only_in_local_mode_and_divides_the_rate(
    local_mode: pytest.MonkeyPatch,
) -> None:
    # 0.1 requests/s: 10 s between two calls; shared by 4 workers, 40 s (beyond MAX_WAIT_S).
    local_mode.setenv(limiter.WORKERS_ENV, "4")
    assert limiter.configure(server_enforces=True) is False
    assert [await limiter.pace("off-mode", 0.1) for _ in range(3)] == [0.0, 0.0, 0.0]

    assert limiter.configure(server_enforces=False) is True
    assert await limiter.pace("fallback", 0.1) == 0.0
    with pytest.raises(Saturated) as refused:
        await limiter.pace("fallback", 0.1)
    assert 39 < refused.value.wait_s <= 40
    assert await limiter.pace("no-rate-configured", None) == 0.0

    limiter.configure(server_enforces=True)
    local_mode.setenv(limiter.FORCE_ENV, "1")  # forced on, whatever the server does
    assert limiter.active()
    assert await limiter.pace("forced", 0.1) == 0.0
    with pytest.raises(Saturated):
        await limiter.pace("forced", 0.1)


def test_workers_must_be_a_positive_count(local_mode: pytest.MonkeyPatch) -> None:
    assert limiter.workers() == 1
    local_mode.setenv(limiter.WORKERS_ENV, "3")
    assert limiter.workers() == 3
    for bad in ("0", "-2", "two", "1.5"):
        local_mode.setenv(limiter.WORKERS_ENV, bad)
        with pytest.raises(ValueError, match=limiter.WORKERS_ENV):
            limiter.workers()
