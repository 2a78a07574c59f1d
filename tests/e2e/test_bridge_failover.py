"""Two `portalctl bridge` processes with the default lease settings (a 3 s lease once lost
its leader to a starved moment on the loaded test machine): the leader is killed (SIGKILL),
frozen (SIGSTOP) or cut off from Redis (its connections go through a TCP proxy the test
stops) while orders are approved; the standby takes over within the 15 s the lease
settings promise, every order is provisioned once, the stored replay id only ever grows
(every write Redis executed, from MONITOR), and a leader woken or reconnected afterwards
stands down without moving it. Prints the failover time.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from temporalio.testing import WorkflowEnvironment

from emulators.salesforce import ORDER_PROVISION_CHANNEL
from integrations.config import DatabaseSettings
from integrations.replay_store import replay_key
from starters.bridge.leadership import lease_key
from starters.demo.bulk_orders import BulkOrder, OrderFactory
from starters.demo.local_services import free_port
from starters.demo.local_vendors import LocalVendors
from starters.demo.portal_processes import BRIDGE_READY, PortalProcess
from starters.demo.redis_server import RedisServer, running_redis_server
from tests.support.process_environment import portal_environment
from tests.support.replay_ids import stored_event_number
from tests.support.tcp_proxy import TcpProxy, running_tcp_proxy
from workers.dependencies import Integrations

ORDERS = 12
LEADER_DOWN_AFTER = 4
"""Approvals before the leader is killed or frozen; the rest come during and after failover."""
APPROVALS_PER_SECOND = 2.0
TAKEOVER_BOUND_SECONDS = 15.0
"""What the default lease settings promise (TTL + renew interval), with the new leader's
subscription."""
SETTLE_SECONDS = 60.0
POLL_SECONDS = 0.2
STANDBY_READY = "Standing by: another bridge holds the leader lease"
LEASE_ACQUIRED = "Leader lease acquired: subscribing"
LEASE_LOST = "Leader lease lost"
REPLAY_KEY = replay_key(ORDER_PROVISION_CHANNEL)
LEASE_KEY = lease_key(ORDER_PROVISION_CHANNEL)
INTERRUPTED_EXIT_CODE = 130


class ReplayIdWrites:
    """Every value Redis sets the replay id key to, in the order Redis ran the commands
    (MONITOR shows the commands a Lua script runs, too)."""

    def __init__(self, url: str) -> None:
        self._client = redis.Redis.from_url(url)
        self.values: list[int] = []
        self._thread = threading.Thread(target=self._follow, daemon=True)
        self._ready = threading.Event()
        self._stopped = False

    def _follow(self) -> None:
        try:
            with self._client.monitor() as monitor:  # type: ignore[no-untyped-call]
                self._ready.set()
                for command in monitor.listen():
                    words = command["command"].split()
                    if words[:2] == ["SET", REPLAY_KEY]:
                        self.values.append(stored_event_number(words[2]))
        except (redis.RedisError, OSError, ValueError):
            if not self._stopped:
                raise

    @contextmanager
    def following(self) -> Iterator[ReplayIdWrites]:
        self._thread.start()
        self._ready.wait()
        try:
            yield self
        finally:
            self._stopped = True
            self._client.close()


class Bridge(PortalProcess):
    """`portalctl bridge` with its own /health port."""

    def __init__(self, name: str, environment: dict[str, str], log_dir: Path, ready: str) -> None:
        self.ops_port = free_port()
        ops = {"BRIDGE_HTTP_PORT": str(self.ops_port), "OPS_HTTP_HOST": "127.0.0.1"}
        super().__init__("bridge", {**environment, **ops}, log_dir / f"{name}.log", ready)

    def role(self) -> str:
        answer = httpx.get(f"http://127.0.0.1:{self.ops_port}/health", timeout=5).json()
        return str(answer["role"])


def log_entries(bridge: PortalProcess) -> list[dict[str, Any]]:
    lines = bridge.log_path.read_text(errors="replace").splitlines()
    return [json.loads(line) for line in lines if line.startswith("{")]


def first_time(bridge: PortalProcess, event: str, after: float = 0.0) -> float | None:
    for entry in log_entries(bridge):
        at = datetime.fromisoformat(entry["timestamp"]).timestamp()
        if entry["event"].startswith(event) and at >= after:
            return at
    return None


async def wait_for(condition: Callable[[], bool], what: str, seconds: float) -> None:
    try:
        async with asyncio.timeout(seconds):
            while not await asyncio.to_thread(condition):  # noqa: ASYNC110
                await asyncio.sleep(POLL_SECONDS)
    except TimeoutError:
        raise AssertionError(f"not within {seconds} s: {what}") from None


def activated(vendors: LocalVendors, orders: list[BulkOrder]) -> bool:
    wanted = {order.order_id for order in orders}
    records = vendors.salesforce.list_records("Order")
    done = [
        r for r in records if r["Id"] in wanted and r.get("Activation_Status__c") == "Activated"
    ]
    return len(done) == len(wanted)


def published_replay_ids(vendors: LocalVendors) -> list[int]:
    return [int(event["data"]["event"]["replayId"]) for event in vendors.salesforce.list_events()]


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    with running_redis_server(tmp_path) as server:
        yield server


@pytest.fixture
def environment(
    dev_env: WorkflowEnvironment,
    task_queue: str,
    vendors: LocalVendors,
    database: DatabaseSettings,
    redis_server: RedisServer,
) -> dict[str, str]:
    vendors.salesforce.set_connect_hold(0.5)
    return {
        **portal_environment(dev_env, task_queue, vendors, database, redis_server.url),
        "SF_EVENTS_ENABLED": "true",
        "SF_EVENTS_REPLAY": "LATEST",
    }


class LeaderDown:
    """How the leader goes away, and (but for SIGKILL) comes back."""

    def __init__(self, how: str, leader: Bridge, redis_proxy: TcpProxy) -> None:
        self.how = how
        self._leader = leader
        self._redis_proxy = redis_proxy

    @property
    def comes_back(self) -> bool:
        return self.how != "SIGKILL"

    async def go(self) -> None:
        if self.how == "Redis cut off":
            await self._redis_proxy.stop()
        else:
            os.kill(self._leader.pid, signal.Signals[self.how])

    def thaw(self) -> None:
        """A frozen leader cannot stop: let it run again (nothing if it is not frozen)."""
        if self.how == "SIGSTOP":
            with contextlib.suppress(ProcessLookupError, AssertionError):
                os.kill(self._leader.pid, signal.SIGCONT)

    async def come_back(self) -> None:
        if self.how == "Redis cut off":
            await self._redis_proxy.start()
        else:
            os.kill(self._leader.pid, signal.SIGCONT)


@pytest.mark.parametrize("how", ["SIGKILL", "SIGSTOP", "Redis cut off"])
async def test_standby_takes_over_and_every_order_is_provisioned_once(
    how: str,
    dev_worker: None,
    vendors: LocalVendors,
    integrations: Integrations,
    environment: dict[str, str],
    redis_server: RedisServer,
    tmp_path: Path,
) -> None:
    factory = OrderFactory(vendors.salesforce, vendors.whmcs, integrations.id_mappings)
    orders = await factory.create_many(ORDERS)
    redis_address = redis_server.url.removeprefix("redis://").removesuffix("/0")
    async with running_tcp_proxy(redis_address) as redis_proxy:
        via_proxy = {**environment, "REDIS_URL": f"redis://{redis_proxy.address}/0"}
        leader = Bridge("bridge-a", via_proxy, tmp_path, BRIDGE_READY)
        standby = Bridge("bridge-b", environment, tmp_path, STANDBY_READY)
        leader_down = LeaderDown(how, leader, redis_proxy)
        with ReplayIdWrites(redis_server.url).following() as writes:
            try:
                await asyncio.to_thread(leader.start)
                await asyncio.to_thread(standby.start)
                roles_before = (leader.role(), standby.role())
                for order in orders[:LEADER_DOWN_AFTER]:
                    await asyncio.to_thread(vendors.salesforce.approve_order, order.order_id)
                    await asyncio.sleep(1 / APPROVALS_PER_SECOND)
                down_at = time.time()
                await leader_down.go()
                for order in orders[LEADER_DOWN_AFTER:]:
                    await asyncio.to_thread(vendors.salesforce.approve_order, order.order_id)
                    await asyncio.sleep(1 / APPROVALS_PER_SECOND)
                await wait_for(
                    lambda: first_time(standby, LEASE_ACQUIRED, down_at) is not None,
                    "the standby takes the lease",
                    TAKEOVER_BOUND_SECONDS,
                )
                role_after = standby.role()
                await wait_for(
                    lambda: activated(vendors, orders), "all orders Activated", SETTLE_SECONDS
                )
                published = published_replay_ids(vendors)
                last = published[-1]
                await wait_for(
                    lambda: writes.values[-1:] == [last], "the last id stored", SETTLE_SECONDS
                )
                if leader_down.comes_back:
                    await leader_down.come_back()
                    await wait_for(
                        lambda: first_time(leader, LEASE_LOST, down_at) is not None,
                        "the woken leader stands down",
                        TAKEOVER_BOUND_SECONDS,
                    )
                    woken_role = leader.role()
            finally:
                leader_down.thaw()
                leader.stop()
                standby.stop()
            stored = redis.Redis.from_url(redis_server.url, decode_responses=True).get(REPLAY_KEY)

    took_over_at = first_time(standby, LEASE_ACQUIRED, down_at)
    assert took_over_at is not None
    whmcs = Counter(order.notes.removeprefix("sfOrderId=") for order in vendors.whmcs.orders())
    whmcs_orders = sum(whmcs[order.order_id] for order in orders)
    print(
        f"\nbridge failover after {how}: the standby took the lease "
        f"{took_over_at - down_at:.1f} s after the leader went down; {ORDERS} orders, "
        f"{whmcs_orders} WHMCS orders, {len(writes.values)} replay id writes"
    )
    assert roles_before == ("leader", "standby")
    assert role_after == "leader"
    assert {whmcs[order.order_id] for order in orders} == {1}
    assert len(published) == ORDERS
    assert writes.values == sorted(writes.values)
    assert isinstance(stored, str)
    assert stored_event_number(stored) == last
    if leader_down.comes_back:
        assert woken_role == "standby"


async def test_a_leader_stopped_with_sigterm_releases_the_lease_at_once(
    environment: dict[str, str], redis_server: RedisServer, tmp_path: Path
) -> None:
    """What an orchestrator does to a pod: the standby need not wait out the lease's TTL."""
    leader = Bridge("bridge-a", environment, tmp_path, BRIDGE_READY)
    standby = Bridge("bridge-b", environment, tmp_path, STANDBY_READY)
    try:
        await asyncio.to_thread(leader.start)
        await asyncio.to_thread(standby.start)
        (holder,) = [e["holder"] for e in log_entries(leader) if e["event"] == LEASE_ACQUIRED]
        stopped_at = time.time()
        os.kill(leader.pid, signal.SIGTERM)
        _, status = await asyncio.to_thread(os.waitpid, leader.pid, 0)
        lease = redis.Redis.from_url(redis_server.url, decode_responses=True).get(LEASE_KEY)
        await wait_for(
            lambda: first_time(standby, LEASE_ACQUIRED, stopped_at) is not None,
            "the standby takes the lease",
            TAKEOVER_BOUND_SECONDS,
        )
    finally:
        leader.stop()  # already ended, unless the test failed before
        standby.stop()

    took_over_at = first_time(standby, LEASE_ACQUIRED, stopped_at)
    assert took_over_at is not None
    print(f"\nafter SIGTERM the standby took the lease {took_over_at - stopped_at:.1f} s later")
    assert os.waitstatus_to_exitcode(status) == INTERRUPTED_EXIT_CODE
    assert lease is None or holder not in str(lease)
