"""A bridge's leadership against a real Redis (TEST_REDIS_URL), reached through a TCP proxy the
test can switch off: it stands by while another holds the lease and leads once that one
releases it; with Redis unreachable it leads without the lease (writing nothing), and once
Redis answers it claims the lease and begins a fenced term."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from redis.asyncio import Redis

from integrations.config import BridgeLeaseSettings
from integrations.leader_lease import Fence, LeaderLease, holder_id
from integrations.redis_connection import redis_client
from starters.bridge.leadership import Leadership, Role, lease_key
from tests.conftest import TEST_REDIS_URL
from tests.support.background import running_in_background
from tests.support.polling import wait_until
from tests.support.tcp_proxy import TcpProxy, running_tcp_proxy

SETTINGS = BridgeLeaseSettings(ttl=timedelta(seconds=3), renew_interval=timedelta(seconds=0.2))


@pytest.fixture
def channel() -> str:
    return f"/event/LeadershipTest{uuid.uuid4().hex}__e"


@pytest.fixture
async def redis(channel: str) -> AsyncIterator[Redis]:
    async with redis_client(TEST_REDIS_URL) as redis:
        yield redis
        await redis.delete(lease_key(channel), f"{lease_key(channel)}:token")


@pytest.fixture
async def proxy() -> AsyncIterator[TcpProxy]:
    address = TEST_REDIS_URL.removeprefix("redis://").rsplit("/", 1)[0]
    async with running_tcp_proxy(address) as proxy:
        yield proxy


class Terms:
    """The fences `Leadership.run` leads with, one per term; each term runs until cancelled."""

    def __init__(self) -> None:
        self.fences: list[Fence] = []

    async def lead(self, fence: Fence) -> None:
        self.fences.append(fence)
        await asyncio.Event().wait()


@pytest.fixture
async def through_proxy(proxy: TcpProxy) -> AsyncIterator[Redis]:
    database = TEST_REDIS_URL.rsplit("/", 1)[1]
    async with redis_client(f"redis://{proxy.address}/{database}") as redis:
        yield redis


@pytest.fixture
def leadership(through_proxy: Redis, channel: str) -> Leadership:
    """The leadership under test: a bridge's, reaching Redis through the proxy."""
    lease = LeaderLease(through_proxy, lease_key(channel), holder_id(), SETTINGS.ttl)
    return Leadership(lease, channel, SETTINGS)


async def test_stands_by_while_another_leads_and_takes_over_when_it_lets_go(
    redis: Redis, leadership: Leadership, channel: str
) -> None:
    other = LeaderLease(redis, lease_key(channel), holder_id(), SETTINGS.ttl)
    held = await other.acquire()
    assert held is not None
    terms = Terms()
    async with running_in_background(leadership.run(terms.lead)):
        await asyncio.sleep(SETTINGS.renew_interval.total_seconds() * 3)
        standing_by = (leadership.role, len(terms.fences))
        await other.release(held)
        await wait_until(lambda: len(terms.fences) == 1, "it leads")

    assert standing_by == (Role.STANDBY, 0)
    (fence,) = terms.fences
    assert fence.term is not None
    assert fence.term.token > held.token


async def test_without_redis_it_leads_unfenced_then_claims_the_lease(
    leadership: Leadership, proxy: TcpProxy, channel: str, redis: Redis
) -> None:
    await proxy.stop()
    terms = Terms()
    async with running_in_background(leadership.run(terms.lead)):
        await wait_until(lambda: len(terms.fences) == 1, "it leads without Redis")
        role_without_redis = leadership.role
        await proxy.start()
        await wait_until(lambda: len(terms.fences) == 2, "it claims the lease")
        stored = await redis.get(lease_key(channel))

    unfenced, fenced = terms.fences
    assert role_without_redis is Role.LEADER
    assert unfenced.term is None
    assert fenced.term is not None
    assert stored == fenced.term.value.encode()
