"""Reading a Platform Event transport in tests: its batches, without waiting forever."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from integrations.salesforce.streaming import PlatformEvent

BATCH_TIMEOUT_SECONDS = 5


async def next_batch(batches: AsyncIterator[list[PlatformEvent]]) -> list[PlatformEvent]:
    """The transport's next batch; the test fails instead of hanging when none comes."""
    async with asyncio.timeout(BATCH_TIMEOUT_SECONDS):
        return await anext(batches)
