"""A Temporal client with a bounded connect, so an absent server is a message, not a hang."""

from __future__ import annotations

import asyncio

from temporalio.client import Client

from infra.temporal import address, connect
from starter.errors import CliError


class TemporalUnreachable(CliError):
    def __init__(self, target: str, reason: str) -> None:
        super().__init__(
            f"Temporal unreachable at {target} ({reason}); start it (`make demo KEEP=1` runs a "
            "dev server) or point TEMPORAL_ADDRESS at your cluster"
        )
        self.target = target


async def connect_or_fail(target: str | None = None, timeout: float = 5.0) -> Client:
    target = target or address()
    try:
        return await asyncio.wait_for(connect(target), timeout)
    except TimeoutError:
        raise TemporalUnreachable(target, f"no answer within {timeout:g}s") from None
    except RuntimeError as exc:  # the SDK reports transport failures as RuntimeError
        reason = "connection refused" if "ConnectionRefused" in str(exc) else str(exc)[:200]
        raise TemporalUnreachable(target, reason) from None
