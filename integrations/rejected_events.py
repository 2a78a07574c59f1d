"""The intake dead-letter: Platform Events the bridge could not use, parked in the
`rejected_events` table with their replay id, payload, reason and time.

A replay id is stored as its transport gave it: CometD's whole number as its decimal digits,
the Pub/Sub API's opaque bytes as they are; `transport` tells which, so the one is never
read as the other. An event parked again (a replay) keeps its first row.
"""

from __future__ import annotations

from datetime import datetime

import psycopg
from psycopg_pool import AsyncConnectionPool
from pydantic import BaseModel

COMETD = "cometd"
PUBSUB = "pubsub"
PARK_TIMEOUT_SECONDS = 5.0
"""How long parking waits for a database connection before the bridge tries again."""


class ParkingUnavailableError(Exception):
    """PostgreSQL did not take the event: the caller keeps it and tries again."""


class RejectedEvent(BaseModel):
    transport: str
    channel: str
    replay_id: str
    """As an operator types it: CometD's number, the Pub/Sub API's bytes in hex."""
    event_uuid: str | None
    payload: str
    reason: str
    rejected_at: datetime


def stored_replay_id(replay_id: int | bytes) -> tuple[str, bytes]:
    """(transport, stored bytes) of a replay id."""
    if isinstance(replay_id, bytes):
        return PUBSUB, replay_id
    return COMETD, str(replay_id).encode()


def shown_replay_id(transport: str, stored: bytes) -> str:
    return stored.decode() if transport == COMETD else stored.hex()


class RejectedEvents:
    def __init__(self, pool: AsyncConnectionPool) -> None:
        self._pool = pool

    async def park(
        self,
        *,
        channel: str,
        replay_id: int | bytes,
        event_uuid: str | None,
        payload: bytes,
        reason: str,
    ) -> bool:
        """Park the event; False when it was parked before. Raises ParkingUnavailableError
        when PostgreSQL cannot be reached."""
        transport, stored = stored_replay_id(replay_id)
        try:
            async with self._pool.connection(PARK_TIMEOUT_SECONDS) as connection:
                cursor = await connection.execute(
                    "INSERT INTO rejected_events"
                    " (transport, channel, replay_id, event_uuid, payload, reason)"
                    " VALUES (%s, %s, %s, %s, %s, %s)"
                    " ON CONFLICT (transport, channel, replay_id) DO NOTHING",
                    (transport, channel, stored, event_uuid, payload, reason),
                )
                return cursor.rowcount == 1
        except psycopg.OperationalError as error:
            raise ParkingUnavailableError(str(error).strip() or type(error).__name__) from None

    async def since(self, rejected_after: datetime | None) -> list[RejectedEvent]:
        """Every parked event (rejected after `rejected_after`), oldest first."""
        async with self._pool.connection() as connection:
            cursor = await connection.execute(
                "SELECT transport, channel, replay_id, event_uuid, payload, reason, rejected_at"
                " FROM rejected_events WHERE %(after)s::timestamptz IS NULL"
                " OR rejected_at > %(after)s ORDER BY rejected_at, id",
                {"after": rejected_after},
            )
            rows = await cursor.fetchall()
        return [
            RejectedEvent(
                transport=transport,
                channel=channel,
                replay_id=shown_replay_id(transport, bytes(replay_id)),
                event_uuid=event_uuid,
                payload=bytes(payload).decode(errors="replace"),
                reason=reason,
                rejected_at=rejected_at,
            )
            for transport, channel, replay_id, event_uuid, payload, reason, rejected_at in rows
        ]
