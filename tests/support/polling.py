"""The one way tests wait for each other: poll a condition until it holds, with a deadline."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable
from typing import Any


async def until(
    condition: Callable[[], Any], timeout: float = 60, what: str = "",
    interval: float = 0.05, ignore: tuple[type[BaseException], ...] = (),
) -> Any:
    """The first truthy result of `condition` (a function or a coroutine function).

    Exceptions of the `ignore` types count as "not yet" (a server still starting, away for a
    while). Past the deadline: AssertionError naming `what` and the last result or exception.
    """
    deadline = asyncio.get_running_loop().time() + timeout
    last: Any = None
    while True:
        try:
            result = condition()
            if inspect.isawaitable(result):
                result = await result
        except ignore as exc:
            result, last = None, exc
        else:
            last = result
        if result:
            return result
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(
                f"timed out after {timeout:g}s waiting for {what or condition}; last: {last!r}")
        await asyncio.sleep(interval)
