"""Waiting for a condition instead of sleeping for a fixed time: as fast as the system allows,
and a clear failure (not a hang) when the condition never comes true."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable

TIMEOUT_SECONDS = 15.0
POLL_SECONDS = 0.05

Condition = Callable[[], bool | Awaitable[bool]]


async def wait_until(condition: Condition, what: str) -> None:
    """Poll `condition` (sync or async) until it is true; fail after a generous deadline."""
    deadline = asyncio.get_running_loop().time() + TIMEOUT_SECONDS
    while True:
        answer = condition()
        if inspect.isawaitable(answer):
            answer = await answer
        if answer:
            return
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"gave up after {TIMEOUT_SECONDS} s waiting until {what}")
        await asyncio.sleep(POLL_SECONDS)
