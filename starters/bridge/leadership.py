"""Several bridges, one subscriber: the bridge holding the leader lease `sf:pe:leader:<channel>`
subscribes, the others stand by and try to take the lease every BRIDGE_LEASE_RENEW_INTERVAL,
so one takes over at most BRIDGE_LEASE_TTL + that interval after the leader stopped renewing
(killed, frozen, cut off from Redis).

Each term as leader opens a new bridge that resumes from the stored replay id, and writes
the replay id only while its term holds the lease (integrations/leader_lease.py): a leader
that was frozen or cut off and wakes up after another took over cannot move the position.

A bridge that cannot reach Redis at all subscribes without the lease, as a single bridge
always did ("Redis down: keep going"): it writes no replay id, and once Redis answers it
claims the lease like any other. Two bridges subscribing at once only hand an event over
twice, which the workflow id makes harmless.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Coroutine
from enum import StrEnum
from typing import Any

import structlog
from redis.exceptions import RedisError

from integrations.config import BridgeLeaseSettings
from integrations.leader_lease import Fence, LeaderLease, LeaseLostError, Term, holder_id
from integrations.metrics import BRIDGE_LEADER, BRIDGE_LEADER_TERMS, BRIDGE_LEASE_TOKEN
from integrations.redis_connection import redis_client

log = structlog.get_logger(__name__)

Lead = Callable[[Fence], Coroutine[Any, Any, None]]
"""The bridge's work during one term; returning ends the process's work."""


class Role(StrEnum):
    LEADER = "leader"
    STANDBY = "standby"


def lease_key(channel: str) -> str:
    return f"sf:pe:leader:{channel}"


class Leadership:
    def __init__(self, lease: LeaderLease, channel: str, settings: BridgeLeaseSettings) -> None:
        self._lease = lease
        self._channel = channel
        self._interval = settings.renew_interval.total_seconds()
        self.role = Role.STANDBY
        self._standby_announced = False
        self._redis_down = False

    async def run(self, lead: Lead) -> None:
        """Lead whenever this bridge may and stand by otherwise, until `lead` returns."""
        while True:
            fence = await self._claim()
            if fence is None:
                await asyncio.sleep(self._interval)
            elif await self._lead_term(fence, lead):
                return

    async def _claim(self) -> Fence | None:
        """The fence of a new term, or None: another bridge leads."""
        try:
            term = await self._lease.acquire()
        except RedisError as error:
            self._note_redis_down(error)
            return Fence(None)
        self._redis_down = False
        if term is None:
            await self._stand_by()
            return None
        return Fence(term)

    async def _lead_term(self, fence: Fence, lead: Lead) -> bool:
        """True when `lead` returned; False when the term ended (this bridge stands by)."""
        self._begin_term(fence.term)
        work = asyncio.create_task(lead(fence), name="bridge term")
        watch = asyncio.create_task(self._until_term_over(fence.term), name="lease renewal")
        try:
            await asyncio.wait({work, watch}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (work, watch):
                task.cancel()
            await asyncio.wait({work, watch})
            self._end_term()
            if fence.term is not None:
                with contextlib.suppress(RedisError):
                    await self._lease.release(fence.term)
        if work.cancelled():
            return False
        error = work.exception()
        if isinstance(error, LeaseLostError):
            log.warning("Leader lease lost: replay id not written, standing by", error=str(error))
            return False
        if error is not None:
            raise error
        return True

    async def _until_term_over(self, term: Term | None) -> None:
        """Renew the lease; return when the term is over: the lease lost, or (for a term
        without it) Redis answering again, so that the lease can be claimed."""
        while True:
            await asyncio.sleep(self._interval)
            try:
                if term is None:
                    await self._lease.holder_of_lease()
                    log.info("Redis answers again: claiming the leader lease")
                    return
                if not await self._lease.renew(term):
                    log.warning("Leader lease lost: standing by", term=term.token)
                    return
            except RedisError as error:
                self._note_redis_down(error)
                continue
            self._redis_down = False

    def _begin_term(self, term: Term | None) -> None:
        self.role = Role.LEADER
        self._standby_announced = False
        BRIDGE_LEADER.labels(self._channel).set(1)
        BRIDGE_LEASE_TOKEN.labels(self._channel).set(term.token if term else 0)
        BRIDGE_LEADER_TERMS.labels(self._channel).inc()
        if term is None:
            log.warning(
                "Leading without the leader lease: Redis unreachable (no replay id written "
                "until it answers)",
                lease=self._lease.key,
            )
        else:
            log.info(
                "Leader lease acquired: subscribing",
                lease=term.key,
                term=term.token,
                holder=term.holder,
            )

    def _end_term(self) -> None:
        self.role = Role.STANDBY
        BRIDGE_LEADER.labels(self._channel).set(0)
        BRIDGE_LEASE_TOKEN.labels(self._channel).set(0)

    async def _stand_by(self) -> None:
        if self._standby_announced:
            return
        self._standby_announced = True
        BRIDGE_LEADER.labels(self._channel).set(0)
        with contextlib.suppress(RedisError):
            log.info(
                "Standing by: another bridge holds the leader lease",
                lease=self._lease.key,
                leader=await self._lease.holder_of_lease(),
                holder=self._lease.holder,
            )

    def _note_redis_down(self, error: RedisError) -> None:
        if not self._redis_down:
            log.warning(
                "Redis unreachable: the leader lease can be neither taken nor renewed",
                lease=self._lease.key,
                role=self.role.value,
                error=str(error),
            )
        self._redis_down = True


@contextlib.asynccontextmanager
async def bridge_leadership(
    redis_url: str, channel: str, settings: BridgeLeaseSettings
) -> AsyncIterator[Leadership]:
    redis = redis_client(redis_url)
    try:
        lease = LeaderLease(redis, lease_key(channel), holder_id(), settings.ttl)
        yield Leadership(lease, channel, settings)
    finally:
        await redis.aclose()
