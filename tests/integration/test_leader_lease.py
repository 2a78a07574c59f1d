"""The leader lease and its fenced write in a real Redis (TEST_REDIS_URL): one holder at a
time, a token that grows with each term, and a write made under a term that is over refused
atomically, also when Redis lost the lease's keys in between."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from redis.asyncio import Redis

from integrations.leader_lease import Fence, LeaderLease, LeaseLostError, holder_id
from integrations.redis_connection import redis_client
from integrations.replay_store import ReplayIdStore, replay_key
from tests.conftest import TEST_REDIS_URL

TTL = timedelta(seconds=30)


@pytest.fixture
def channel() -> str:
    return f"/event/LeaseTest{uuid.uuid4().hex}__e"


@pytest.fixture
async def redis(channel: str) -> AsyncIterator[Redis]:
    async with redis_client(TEST_REDIS_URL) as redis:
        yield redis
        await redis.delete(f"lease:{channel}", f"lease:{channel}:token", replay_key(channel))


def lease(redis: Redis, channel: str) -> LeaderLease:
    return LeaderLease(redis, f"lease:{channel}", holder_id(), TTL)


async def test_one_holder_at_a_time_and_each_term_a_larger_token(
    redis: Redis, channel: str
) -> None:
    first, second = lease(redis, channel), lease(redis, channel)

    term = await first.acquire()
    assert term is not None
    assert await second.acquire() is None
    assert await first.renew(term)
    assert 0 < await redis.pttl(first.key) <= TTL.total_seconds() * 1000
    await first.release(term)
    next_term = await second.acquire()

    assert next_term is not None
    assert next_term.token > term.token
    assert not await first.renew(term)
    assert await first.holder_of_lease() == next_term.value


async def test_a_replay_id_written_under_an_ended_term_is_refused(
    redis: Redis, channel: str
) -> None:
    stale_lease, new_lease = lease(redis, channel), lease(redis, channel)
    stale = await stale_lease.acquire()
    assert stale is not None
    stale_store = ReplayIdStore(redis, channel, fence=Fence(stale))
    await stale_store.save(100)
    await stale_lease.release(stale)  # what an expiry does, without waiting for it
    current = await new_lease.acquire()
    assert current is not None
    await ReplayIdStore(redis, channel, fence=Fence(current)).save(200)

    with pytest.raises(LeaseLostError):
        await stale_store.save(150)

    assert await redis.get(replay_key(channel)) == b"200"


async def test_a_redis_that_lost_the_lease_keys_still_refuses_an_earlier_holder(
    redis: Redis, channel: str
) -> None:
    stale_lease, new_lease = lease(redis, channel), lease(redis, channel)
    stale = await stale_lease.acquire()
    assert stale is not None
    await redis.delete(stale_lease.key, f"{stale_lease.key}:token")  # a restart without data
    current = await new_lease.acquire()
    assert current is not None
    assert current.token == stale.token  # the count started again

    with pytest.raises(LeaseLostError):
        await ReplayIdStore(redis, channel, fence=Fence(stale)).save(150)

    assert await redis.get(replay_key(channel)) is None


async def test_without_the_lease_the_replay_id_is_kept_in_memory_not_written(
    redis: Redis, channel: str
) -> None:
    store = ReplayIdStore(redis, channel, fence=Fence(None))

    await store.save(300)

    assert await redis.get(replay_key(channel)) is None
    assert await store.load() == 300
