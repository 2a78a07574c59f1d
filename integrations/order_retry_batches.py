"""The `order_retry_batches` table: which bulk retry of failed orders is under way.

A bulk retry sends each order its retry with the batch's id as event id, and a workflow takes
one event id once. So what makes a rerun safe is finding the same batch again: a rerun of the
same selection (the command's filters) continues the newest unfinished batch of it, if it
started less than `resume_within` ago; otherwise a new batch begins.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from psycopg_pool import AsyncConnectionPool

_LOCK_NAMESPACE = 0x6F7264  # "ord": serialises two CLIs opening the same selection at once


@dataclass(frozen=True)
class RetryBatch:
    id: uuid.UUID
    started_at: datetime
    resumed: bool

    @property
    def event_id(self) -> str:
        return f"bulk-retry:{self.id}"


class OrderRetryBatches:
    def __init__(self, pool: AsyncConnectionPool) -> None:
        self._pool = pool

    async def open(self, selection: str, *, resume_within: timedelta) -> RetryBatch:
        async with self._pool.connection() as connection, connection.transaction():
            await connection.execute(
                "SELECT pg_advisory_xact_lock(%s, hashtext(%s))", (_LOCK_NAMESPACE, selection)
            )
            cursor = await connection.execute(
                "SELECT id, started_at FROM order_retry_batches"
                " WHERE selection = %s AND finished_at IS NULL AND started_at > now() - %s"
                " ORDER BY started_at DESC LIMIT 1",
                (selection, resume_within),
            )
            row = await cursor.fetchone()
            if row is not None:
                return RetryBatch(id=row[0], started_at=row[1], resumed=True)
            cursor = await connection.execute(
                "INSERT INTO order_retry_batches (selection) VALUES (%s) RETURNING id, started_at",
                (selection,),
            )
            created = await cursor.fetchone()
        assert created is not None
        return RetryBatch(id=created[0], started_at=created[1], resumed=False)

    async def finish(self, batch: RetryBatch) -> None:
        async with self._pool.connection() as connection:
            await connection.execute(
                "UPDATE order_retry_batches SET finished_at = now() WHERE id = %s", (batch.id,)
            )
