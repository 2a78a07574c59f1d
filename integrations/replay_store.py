"""Where the bridge remembers how far it got: `sf:pe:replay:<channel>` in Redis (the key the
original subscriber used, so a migration keeps its place).

Redis being down must not stop intake: the latest id is then kept in memory and written as
soon as Redis answers again (the seed's "Redis down -> keep going" fallback).
"""

from __future__ import annotations

import structlog
from redis.asyncio import Redis
from redis.exceptions import RedisError

log = structlog.get_logger(__name__)


def replay_key(channel: str) -> str:
    return f"sf:pe:replay:{channel}"


class ReplayIdStore:
    def __init__(self, redis: Redis, channel: str) -> None:
        self._redis = redis
        self.key = replay_key(channel)
        self._unsaved: int | None = None
        self._redis_down = False

    async def load(self) -> int | None:
        """The stored replay id; the unsaved one in memory wins, being newer. Raises
        `RedisError` when Redis cannot say whether an id is stored."""
        if self._unsaved is not None:
            return self._unsaved
        try:
            stored = await self._redis.get(self.key)
        except RedisError as error:
            self._note_redis_down(error)
            raise
        self._note_redis_up()
        return int(stored) if stored is not None else None

    async def forget(self) -> None:
        self._unsaved = None
        await self._redis.delete(self.key)

    async def save(self, replay_id: int) -> None:
        self._unsaved = replay_id
        await self.flush()

    async def flush(self) -> None:
        """Write the id kept in memory, if any; called again after each batch."""
        if self._unsaved is None:
            return
        try:
            await self._redis.set(self.key, str(self._unsaved))
        except RedisError as error:
            self._note_redis_down(error)
            return
        self._unsaved = None
        self._note_redis_up()

    def _note_redis_down(self, error: RedisError) -> None:
        if not self._redis_down:
            log.warning(
                "Redis unavailable: replay id kept in memory until it is back",
                key=self.key,
                error=str(error),
            )
        self._redis_down = True

    def _note_redis_up(self) -> None:
        if self._redis_down:
            log.info("Redis is back: replay id persisted", key=self.key)
        self._redis_down = False
