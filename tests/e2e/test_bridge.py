"""The Platform Event bridge against real servers: the Temporal dev server, Redis, PostgreSQL
and the Salesforce/WHMCS emulators. Each test acts out one promise of the bridge: every
event is handed to Temporal, the stored replay id never runs ahead of an acknowledged event,
and no order is provisioned twice, whatever Salesforce, Temporal or Redis do meanwhile."""

from __future__ import annotations

import asyncio
import contextlib
import io
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis
from redis.asyncio.lock import Lock
from redis.exceptions import ConnectionError as RedisConnectionError
from temporalio.client import (
    Client,
    Interceptor,
    OutboundInterceptor,
    StartWorkflowInput,
    WorkflowHandle,
)
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import RetryConfig
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.policies import PolicyActivities
from contracts.provisioning import (
    ProvisionOrderResult,
    ProvisionOutcome,
    ProvisionPolicy,
    provision_workflow_id,
)
from emulators.salesforce import ORDER_PROVISION_CHANNEL, SalesforceEmulatorControl
from emulators.salesforce.control import pubsub_replay_id
from integrations.config import DatabaseSettings, EventTransport, ReplayMode
from integrations.intake_status import INTAKE_STATUS
from integrations.metrics import process_exposition
from integrations.replay_store import replay_key
from starters.bridge.event_bridge import EventBridge
from starters.bridge.intake import IntakeOutcome
from starters.demo.local_vendors import LocalVendors
from starters.demo.redis_server import running_redis_server
from starters.demo.sample_orders import SampleOrder
from tests.conftest import TEST_REDIS_URL
from tests.support.background import running_in_background
from tests.support.bridges import positioned_bridge
from tests.support.json_log import log_lines
from tests.support.polling import wait_until
from tests.support.provisioning import unapproved_order
from tests.support.replay_ids import event_number, stored_event_number
from tests.support.tcp_proxy import running_tcp_proxy
from tests.support.temporal import deployment_for
from tests.support.worker_policies import with_policies
from workers.dependencies import Integrations
from workers.worker import running_workers
from workflows.provision_order import ProvisionOrder

REPLAY_KEY = replay_key(ORDER_PROVISION_CHANNEL)
TURN_LEASE_SECONDS = 120
"""How long a killed test run can keep the next one waiting; each test renews the lease."""
TURN_WAIT_SECONDS = 240
CONNECT_HOLD_SECONDS = 0.5
SALESFORCE_HOLD_SECONDS = 110
"""Salesforce holds a /meta/connect up to 110 s ("Clients and Timeouts")."""
RECONNECT_DEADLINE_SECONDS = 40
"""Salesforce forgets a CometD client that has not come back 40 s after a response."""
PUBSUB_IDLE_CLOSE_SECONDS = 60
"""The Pub/Sub API closes a stream on which nothing was requested for this long."""
QUIET_SECONDS = 10 * CONNECT_HOLD_SECONDS
WORKFLOW_TIMEOUT_SECONDS = 30
POLICY = ProvisionPolicy(max_attempts=2, retry_initial_interval=timedelta(milliseconds=200))


@pytest.fixture
def worker_policies(integrations: Integrations) -> PolicyActivities:
    """Short retries, set on the worker."""
    return with_policies(integrations, provisioning=POLICY).policies


LateWorker = Callable[[], AbstractAsyncContextManager[list[Worker]]]


@pytest.fixture
def late_worker(
    dev_env: WorkflowEnvironment, task_queue: str, integrations: Integrations
) -> LateWorker:
    """The worker `dev_worker` runs, started when the test says: until then every workflow
    the bridge starts stays running."""
    configured = with_policies(integrations, provisioning=POLICY)
    return lambda: running_workers(
        dev_env.client, task_queue, configured, deployment_for(task_queue)
    )


NOT_ACKNOWLEDGED = "Temporal did not acknowledge the event; retrying, replay id not advanced"
REPLAY_ID_NOT_RETAINED = "Replay id no longer retained by Salesforce"
STORED_ID_UNREADABLE = "Stored replay id unreadable"
STORED_ID_UNUSABLE = "Stored replay id unusable"
ALREADY_HANDLED = "Platform Event already handled"
ENQUEUED = "Platform Event enqueued for provisioning"
REDIS_UNAVAILABLE = "Redis unavailable: replay id kept in memory until it is back"
BAD_EVENT_REJECTED = "Platform Event rejected: parked in the dead-letter"
CLIENT_FORGOTTEN = "salesforce forgot the cometd client, handshaking again"
SESSION_INVALID = "salesforce session invalid, logging in again"
STREAM_CLOSED = "pubsub stream closed, subscribing again"


@dataclass(frozen=True)
class BridgeRun:
    bridge: EventBridge
    handled: list[int]
    """The emulator's numbers of the events the bridge acknowledged, in order (the replay
    ids of CometD; the Pub/Sub API's are bytes of them)."""


@dataclass(frozen=True)
class Bridges:
    """Runs bridges for this test's task queue against the emulated org."""

    client: Client
    task_queue: str
    vendors: LocalVendors
    database: DatabaseSettings

    transport: EventTransport = EventTransport.PUBSUB

    @asynccontextmanager
    async def running(
        self,
        *,
        client: Client | None = None,
        redis_url: str = TEST_REDIS_URL,
        replay: ReplayMode = ReplayMode.ALL,
    ) -> AsyncIterator[BridgeRun]:
        """A bridge running in the background for the duration of the block."""
        async with (
            self._opened(client or self.client, redis_url, replay) as run,
            running_in_background(run.bridge.run()),
        ):
            yield run

    async def replay_all_retained(self) -> BridgeRun:
        """A second bridge with no stored id and SF_EVENTS_REPLAY=ALL, until Salesforce has
        nothing more to deliver (a poll answered empty)."""
        async with self._opened(self.client, None, ReplayMode.ALL) as run:
            await run.bridge.run(stop_when_quiet_for=QUIET_SECONDS)
        return run

    @asynccontextmanager
    async def _opened(
        self, client: Client, redis_url: str | None, replay: ReplayMode
    ) -> AsyncIterator[BridgeRun]:
        handled: list[int] = []
        async with positioned_bridge(
            client,
            task_queue=self.task_queue,
            vendors=self.vendors,
            database=self.database,
            transport=self.transport,
            replay=replay,
            redis_url=redis_url,
            on_event=lambda event, _outcome: handled.append(event_number(event.replay_id)),
        ) as bridge:
            yield BridgeRun(bridge, handled)


@pytest.fixture
def vendors(vendors: LocalVendors) -> LocalVendors:
    """Short CometD long polls and Pub/Sub keepalives: an idle bridge meets a fault (and
    recovers) at once."""
    vendors.salesforce.set_connect_hold(CONNECT_HOLD_SECONDS)
    vendors.salesforce.set_pubsub_keepalive(CONNECT_HOLD_SECONDS)
    return vendors


@pytest.fixture
def transport() -> EventTransport:
    """The default transport; the tests of the bridge's promises run on both."""
    return EventTransport.PUBSUB


ON_BOTH_TRANSPORTS = pytest.mark.parametrize("transport", list(EventTransport))
ON_COMETD = pytest.mark.parametrize("transport", [EventTransport.COMETD])


@pytest.fixture(scope="module")
async def turn_at_the_replay_key() -> AsyncIterator[Lock]:
    """Test runs sharing TEST_REDIS_URL (several people, one machine) take turns: each would
    overwrite and delete the other's replay id."""
    async with Redis.from_url(TEST_REDIS_URL) as redis:
        turn = redis.lock(
            f"{REPLAY_KEY}:test-run",
            timeout=TURN_LEASE_SECONDS,
            blocking_timeout=TURN_WAIT_SECONDS,
        )
        async with turn:
            yield turn


@pytest.fixture
async def replay_store(turn_at_the_replay_key: Lock) -> AsyncIterator[Redis]:
    """The bridge's Redis (TEST_REDIS_URL), with no replay id stored before or after."""
    await turn_at_the_replay_key.reacquire()
    redis = Redis.from_url(TEST_REDIS_URL, decode_responses=True)
    await redis.delete(REPLAY_KEY)
    try:
        yield redis
    finally:
        await redis.delete(REPLAY_KEY)
        await redis.aclose()


@pytest.fixture
def bridges(
    dev_env: WorkflowEnvironment,
    task_queue: str,
    vendors: LocalVendors,
    database: DatabaseSettings,
    replay_store: Redis,
    transport: EventTransport,
) -> Bridges:
    """Bridges that find no replay id stored when the test starts."""
    return Bridges(dev_env.client, task_queue, vendors, database, transport=transport)


async def unapproved_orders(
    vendors: LocalVendors, integrations: Integrations, count: int
) -> list[SampleOrder]:
    return [await unapproved_order(vendors, integrations) for _ in range(count)]


def approve(vendors: LocalVendors, orders: list[SampleOrder]) -> list[int]:
    """Approve each order as the Salesforce Flow does; the replay ids of its events."""
    return [vendors.salesforce.approve_order(order.order_id) for order in orders]


def publish_duplicates(vendors: LocalVendors, orders: list[SampleOrder]) -> list[int]:
    """A new event for each order, naming it again; their replay ids."""
    return [vendors.salesforce.publish_event({"OrderId__c": order.order_id}) for order in orders]


async def wait_until_stored(redis: Redis, replay_id: int) -> None:
    async def stored() -> bool:
        try:
            stored = await redis.get(REPLAY_KEY)
            return stored is not None and stored_event_number(stored) == replay_id
        except RedisConnectionError:  # a restarted server: the next try reconnects
            return False

    await wait_until(stored, f"{REPLAY_KEY} is {replay_id}")


async def wait_until_handed_over(run: BridgeRun, redis: Redis, replay_id: int) -> None:
    """Until the bridge has reported the event as acknowledged and stored its replay id."""
    await wait_until(lambda: replay_id in run.handled, f"the bridge hands over {replay_id}")
    await wait_until_stored(redis, replay_id)


async def stored_replay_id(redis: Redis) -> int | None:
    stored = await redis.get(REPLAY_KEY)
    return None if stored is None else stored_event_number(stored)


async def provisioning_results(
    client: Client, orders: list[SampleOrder]
) -> list[ProvisionOrderResult]:
    """The result of each order's latest `ProvisionOrder` run, once it is done."""
    async with asyncio.timeout(WORKFLOW_TIMEOUT_SECONDS):
        return [
            await client.get_workflow_handle_for(
                ProvisionOrder.run, provision_workflow_id(order.order_id)
            ).result()
            for order in orders
        ]


async def outcomes(client: Client, orders: list[SampleOrder]) -> list[ProvisionOutcome]:
    return [result.outcome for result in await provisioning_results(client, orders)]


async def current_run_ids(client: Client, orders: list[SampleOrder]) -> list[str]:
    return [
        (await client.get_workflow_handle(provision_workflow_id(order.order_id)).describe()).run_id
        for order in orders
    ]


def whmcs_order_counts(vendors: LocalVendors, orders: list[SampleOrder]) -> list[int]:
    return [len(vendors.whmcs.orders(order.whmcs_client_id)) for order in orders]


@ON_BOTH_TRANSPORTS
async def test_each_order_is_provisioned_once_despite_duplicate_and_replayed_events(
    dev_env: WorkflowEnvironment,
    late_worker: LateWorker,
    vendors: LocalVendors,
    integrations: Integrations,
    replay_store: Redis,
    bridges: Bridges,
) -> None:
    orders = await unapproved_orders(vendors, integrations, 5)
    # No worker yet: every workflow is still running when its duplicate arrives.
    async with bridges.running() as live:
        originals = approve(vendors, orders)
        duplicates = publish_duplicates(vendors, orders)
        await wait_until_handed_over(live, replay_store, duplicates[-1])
    async with late_worker():
        assert await outcomes(dev_env.client, orders) == [ProvisionOutcome.ACTIVATED] * 5
    run_ids = await current_run_ids(dev_env.client, orders)

    replay = await bridges.replay_all_retained()

    assert live.handled == originals + duplicates
    assert live.bridge.counts == {IntakeOutcome.STARTED: 5, IntakeOutcome.ALREADY_RUNNING: 5}
    assert replay.handled == originals + duplicates
    assert replay.bridge.counts == {IntakeOutcome.ALREADY_DONE: 10}
    assert await current_run_ids(dev_env.client, orders) == run_ids
    assert whmcs_order_counts(vendors, orders) == [1] * 5


@pytest.mark.usefixtures("dev_worker")
async def test_a_duplicate_event_after_activation_starts_only_a_run_that_skips(
    dev_env: WorkflowEnvironment,
    vendors: LocalVendors,
    integrations: Integrations,
    replay_store: Redis,
    bridges: Bridges,
) -> None:
    orders = await unapproved_orders(vendors, integrations, 1)
    async with bridges.running() as live:
        await wait_until_handed_over(live, replay_store, approve(vendors, orders)[-1])
        [first] = await provisioning_results(dev_env.client, orders)
        await wait_until_handed_over(live, replay_store, publish_duplicates(vendors, orders)[-1])
        [second] = await provisioning_results(dev_env.client, orders)

    assert first.outcome is ProvisionOutcome.ACTIVATED
    # A newer event than the close may be a re-approval after a failure, so it starts a run;
    # the run finds the Order Activated and does nothing.
    assert live.bridge.counts == {IntakeOutcome.STARTED: 2}
    assert second.outcome is ProvisionOutcome.SKIPPED
    assert second.reason == "Order is already Activated"
    assert whmcs_order_counts(vendors, orders) == [1]


async def impatient_client(address: str, dev_env: WorkflowEnvironment) -> Client:
    """A client of the server behind `address` (a proxy the test can stop) that gives up on a
    call after one quick retry."""
    return await Client.connect(
        address,
        namespace=dev_env.client.namespace,
        data_converter=pydantic_data_converter,
        retry_config=RetryConfig(max_retries=1, initial_interval_millis=50),
    )


@ON_BOTH_TRANSPORTS
@pytest.mark.usefixtures("dev_worker")
async def test_the_replay_id_stays_at_the_last_acknowledged_event_while_temporal_is_unreachable(
    dev_env: WorkflowEnvironment,
    vendors: LocalVendors,
    integrations: Integrations,
    replay_store: Redis,
    bridges: Bridges,
    json_log: io.StringIO,
) -> None:
    orders = await unapproved_orders(vendors, integrations, 2)
    async with running_tcp_proxy(dev_env.client.service_client.config.target_host) as temporal:
        client = await impatient_client(temporal.address, dev_env)
        async with bridges.running(client=client) as live:
            [acknowledged] = approve(vendors, orders[:1])
            await wait_until_handed_over(live, replay_store, acknowledged)

            await temporal.stop()
            [unacknowledged] = approve(vendors, orders[1:])
            await wait_until(
                lambda: bool(log_lines(json_log, NOT_ACKNOWLEDGED)),
                "the bridge retries the event Temporal did not acknowledge",
            )
            assert await stored_replay_id(replay_store) == acknowledged

            await temporal.start()
            await wait_until_handed_over(live, replay_store, unacknowledged)

    logged = {event_number(line["replay_id"]) for line in log_lines(json_log, NOT_ACKNOWLEDGED)}
    assert logged == {unacknowledged}
    assert live.handled == [acknowledged, unacknowledged]
    assert await outcomes(dev_env.client, orders) == [ProvisionOutcome.ACTIVATED] * 2
    assert whmcs_order_counts(vendors, orders) == [1, 1]


@ON_BOTH_TRANSPORTS
@pytest.mark.usefixtures("dev_worker")
async def test_health_and_metrics_show_the_transport_the_last_replay_id_and_the_lag(
    vendors: LocalVendors,
    integrations: Integrations,
    replay_store: Redis,
    bridges: Bridges,
    transport: EventTransport,
) -> None:
    """What /health's `intake` and /metrics' `portal_platform_event_transport` read."""
    orders = await unapproved_orders(vendors, integrations, 1)
    async with bridges.running() as live:
        [handed_over] = approve(vendors, orders)
        await wait_until_handed_over(live, replay_store, handed_over)
    intake = INTAKE_STATUS.view()

    assert intake is not None
    shown = pubsub_replay_id(handed_over).hex() if transport is EventTransport.PUBSUB else None
    assert (intake.transport, intake.channel) == (transport.value, ORDER_PROVISION_CHANNEL)
    assert intake.last_replay_id == (shown or str(handed_over))
    assert intake.lag_seconds is not None
    assert intake.lag_seconds >= 0
    series = (
        f'portal_platform_event_transport{{channel="{ORDER_PROVISION_CHANNEL}",'
        f'transport="{transport.value}"}} 1.0'
    )
    assert series in process_exposition().decode().splitlines()


@ON_BOTH_TRANSPORTS
@pytest.mark.usefixtures("dev_worker")
async def test_a_restarted_bridge_resumes_from_the_stored_replay_id_without_loss(
    dev_env: WorkflowEnvironment,
    vendors: LocalVendors,
    integrations: Integrations,
    replay_store: Redis,
    bridges: Bridges,
) -> None:
    orders = await unapproved_orders(vendors, integrations, 3)
    async with bridges.running() as first:
        before_restart = approve(vendors, orders[:1])
        await wait_until_handed_over(first, replay_store, before_restart[-1])
    while_down = approve(vendors, orders[1:])

    # LATEST would start after the newest event: only the stored id finds the missed ones.
    async with bridges.running(replay=ReplayMode.LATEST) as second:
        await wait_until_handed_over(second, replay_store, while_down[-1])

    assert first.handled == before_restart
    assert second.handled == while_down
    assert await outcomes(dev_env.client, orders) == [ProvisionOutcome.ACTIVATED] * 3
    assert whmcs_order_counts(vendors, orders) == [1, 1, 1]


@pytest.mark.usefixtures("dev_worker")
@pytest.mark.parametrize(
    ("transport", "salesforce_fault", "recovery_log"),
    [
        pytest.param(
            EventTransport.COMETD,
            SalesforceEmulatorControl.drop_cometd_clients,
            CLIENT_FORGOTTEN,
            id="cometd-unknown-client",
        ),
        pytest.param(
            EventTransport.COMETD,
            SalesforceEmulatorControl.expire_sessions,
            SESSION_INVALID,
            id="cometd-expired-session",
        ),
        pytest.param(
            EventTransport.PUBSUB,
            SalesforceEmulatorControl.expire_sessions,
            SESSION_INVALID,
            id="pubsub-expired-session",
        ),
        pytest.param(
            EventTransport.PUBSUB,
            SalesforceEmulatorControl.close_pubsub_streams,
            STREAM_CLOSED,
            id="pubsub-server-closed-stream",
        ),
    ],
)
async def test_the_bridge_recovers_from_salesforce_faults_without_loss_or_redelivery(
    dev_env: WorkflowEnvironment,
    vendors: LocalVendors,
    integrations: Integrations,
    replay_store: Redis,
    bridges: Bridges,
    json_log: io.StringIO,
    salesforce_fault: Callable[[SalesforceEmulatorControl], None],
    recovery_log: str,
) -> None:
    """`403::Unknown client` makes it handshake again from the stored id, a Pub/Sub stream the
    server closed subscribe again from it; an expired session makes it log in again. Either
    way each event is handed over once, in order."""
    orders = await unapproved_orders(vendors, integrations, 2)
    async with bridges.running() as live:
        before = approve(vendors, orders[:1])
        await wait_until_handed_over(live, replay_store, before[-1])

        salesforce_fault(vendors.salesforce)
        after = approve(vendors, orders[1:])
        await wait_until_handed_over(live, replay_store, after[-1])
        await wait_until(
            lambda: bool(log_lines(json_log, recovery_log)), f"the bridge logs {recovery_log!r}"
        )

    assert live.handled == before + after
    assert await outcomes(dev_env.client, orders) == [ProvisionOutcome.ACTIVATED] * 2


@ON_BOTH_TRANSPORTS
async def test_a_replay_id_out_of_retention_replays_all_retained_events_without_doubling(
    dev_env: WorkflowEnvironment,
    late_worker: LateWorker,
    vendors: LocalVendors,
    integrations: Integrations,
    replay_store: Redis,
    bridges: Bridges,
    json_log: io.StringIO,
) -> None:
    orders = await unapproved_orders(vendors, integrations, 2)
    handled_order, new_order = orders
    # No worker until the end: the emulator's clock jumps 73 h ahead, so a replayed event
    # would look newer than any finished workflow; a running one keeps the dedupe the
    # bridge's own (the workflow id), not the workflow's "already Activated" guard.
    async with bridges.running():
        [expired] = approve(vendors, [handled_order])
        await wait_until_stored(replay_store, expired)
    [handled_run_id] = await current_run_ids(dev_env.client, [handled_order])

    vendors.salesforce.advance_clock(hours=73)
    retained = [*publish_duplicates(vendors, [handled_order]), *approve(vendors, [new_order])]
    async with bridges.running() as restarted:
        await wait_until_handed_over(restarted, replay_store, retained[-1])

    [error] = log_lines(json_log, REPLAY_ID_NOT_RETAINED)
    assert (error["level"], event_number(error["replay_id"])) == ("error", expired)
    assert restarted.handled == retained
    assert restarted.bridge.counts == {IntakeOutcome.ALREADY_RUNNING: 1, IntakeOutcome.STARTED: 1}
    async with late_worker():
        assert await outcomes(dev_env.client, orders) == [ProvisionOutcome.ACTIVATED] * 2
    assert await current_run_ids(dev_env.client, [handled_order]) == [handled_run_id]
    assert whmcs_order_counts(vendors, orders) == [1, 1]


@pytest.mark.usefixtures("dev_worker")
async def test_events_keep_flowing_while_redis_is_down_and_the_latest_id_is_stored_on_return(
    dev_env: WorkflowEnvironment,
    vendors: LocalVendors,
    integrations: Integrations,
    bridges: Bridges,
    json_log: io.StringIO,
    tmp_path: Path,
) -> None:
    orders = await unapproved_orders(vendors, integrations, 3)
    with running_redis_server(tmp_path) as redis_server:
        store = Redis.from_url(redis_server.url, decode_responses=True)
        async with contextlib.aclosing(store), bridges.running(redis_url=redis_server.url) as live:
            before = approve(vendors, orders[:1])
            await wait_until_handed_over(live, store, before[-1])

            redis_server.stop()
            while_down = approve(vendors, orders[1:])
            await wait_until(
                lambda: live.handled == before + while_down,
                "the bridge hands the events to Temporal without Redis",
            )
            assert event_number(live.bridge.position) == while_down[-1]
            assert log_lines(json_log, REDIS_UNAVAILABLE)

            # Restarted empty (nothing is saved to disk): the id can only come from memory.
            redis_server.start()
            await wait_until_stored(store, while_down[-1])

    assert await outcomes(dev_env.client, orders) == [ProvisionOutcome.ACTIVATED] * 3


@pytest.mark.usefixtures("dev_worker")
async def test_a_bridge_starting_while_redis_is_down_misses_no_event(
    dev_env: WorkflowEnvironment,
    vendors: LocalVendors,
    integrations: Integrations,
    bridges: Bridges,
    json_log: io.StringIO,
    tmp_path: Path,
) -> None:
    orders = await unapproved_orders(vendors, integrations, 2)
    with running_redis_server(tmp_path) as redis_server:
        store = Redis.from_url(redis_server.url, decode_responses=True)
        async with contextlib.aclosing(store):
            async with bridges.running(redis_url=redis_server.url):
                before_restart = approve(vendors, orders[:1])
                await wait_until_stored(store, before_restart[-1])
                await provisioning_results(dev_env.client, orders[:1])
            redis_server.stop()
            while_down = approve(vendors, orders[1:])

            # LATEST, the default, would skip what was published while the bridge was down.
            async with bridges.running(
                redis_url=redis_server.url, replay=ReplayMode.LATEST
            ) as restarted:
                await wait_until(
                    lambda: while_down[-1] in restarted.handled,
                    "the restarted bridge hands over the event it missed",
                )

    [error] = log_lines(json_log, STORED_ID_UNREADABLE)
    assert error["level"] == "error"
    assert restarted.handled == before_restart + while_down
    assert restarted.bridge.counts == {IntakeOutcome.ALREADY_DONE: 1, IntakeOutcome.STARTED: 1}
    assert await outcomes(dev_env.client, orders) == [ProvisionOutcome.ACTIVATED] * 2


@pytest.mark.usefixtures("dev_worker")
async def test_events_without_a_valid_order_id_are_parked_and_passed(
    dev_env: WorkflowEnvironment,
    vendors: LocalVendors,
    integrations: Integrations,
    replay_store: Redis,
    bridges: Bridges,
    json_log: io.StringIO,
) -> None:
    orders = await unapproved_orders(vendors, integrations, 1)
    async with bridges.running() as live:
        bad_events = [
            vendors.salesforce.publish_event({"Unexpected__c": "no order id"}),
            vendors.salesforce.publish_event({"OrderId__c": "not-an-id"}),
        ]
        await wait_until_handed_over(live, replay_store, bad_events[-1])
        good_event = approve(vendors, orders)
        await wait_until_handed_over(live, replay_store, good_event[-1])

    # One batch can hold both (Pub/Sub delivers what was asked for): events of different
    # orders are handed over concurrently, so their log lines come in either order.
    rejected = log_lines(json_log, BAD_EVENT_REJECTED)
    assert {(event_number(line["replay_id"]), line["reason"]) for line in rejected} == {
        (bad_events[0], "no OrderId__c"),
        (bad_events[1], "invalid OrderId__c 'not-an-id'"),
    }
    assert live.bridge.counts == {IntakeOutcome.REJECTED: 2, IntakeOutcome.STARTED: 1}
    assert live.handled == bad_events + good_event
    assert await outcomes(dev_env.client, orders) == [ProvisionOutcome.ACTIVATED]


def held_at(salesforce: SalesforceEmulatorControl, replay_id: int) -> bool:
    """Salesforce is holding a /meta/connect of a client subscribed up to `replay_id`."""
    return any(
        client["waiting"] and client["positions"] == {ORDER_PROVISION_CHANNEL: replay_id}
        for client in salesforce.cometd_clients()
    )


@ON_COMETD
async def test_an_invalid_replay_id_reported_on_connect_replays_all_retained_events_once(
    dev_env: WorkflowEnvironment,
    late_worker: LateWorker,
    vendors: LocalVendors,
    integrations: Integrations,
    replay_store: Redis,
    bridges: Bridges,
    json_log: io.StringIO,
) -> None:
    """The bridge kept polling while the event its subscription continues from aged out of
    retention: Salesforce refuses the next /meta/connect with the invalid-replay-id error.
    The bridge falls back as on a refused subscription: one error line, every retained event
    (-2), the ones already handled recognised by their workflow id."""
    handled_order, new_order = await unapproved_orders(vendors, integrations, 2)
    vendors.salesforce.set_connect_hold(SALESFORCE_HOLD_SECONDS)
    # No worker until the end, as in the retention test above: the clock jumps 73 h.
    async with bridges.running() as live:
        [handled] = approve(vendors, [handled_order])
        await wait_until_handed_over(live, replay_store, handled)
        await wait_until(
            lambda: held_at(vendors.salesforce, handled), "Salesforce holds the bridge's connect"
        )
        [handled_run_id] = await current_run_ids(dev_env.client, [handled_order])

        vendors.salesforce.advance_clock(hours=73)
        retained = [*publish_duplicates(vendors, [handled_order]), *approve(vendors, [new_order])]
        await wait_until_handed_over(live, replay_store, retained[-1])

    [error] = log_lines(json_log, REPLAY_ID_NOT_RETAINED)
    assert (error["level"], error["replay_id"]) == ("error", handled)
    assert live.handled == [handled, *retained]
    assert live.bridge.counts == {IntakeOutcome.STARTED: 2, IntakeOutcome.ALREADY_RUNNING: 1}
    assert vendors.salesforce.call_counts()["handshake"] == 2
    async with late_worker():
        orders = [handled_order, new_order]
        assert await outcomes(dev_env.client, orders) == [ProvisionOutcome.ACTIVATED] * 2
    assert await current_run_ids(dev_env.client, [handled_order]) == [handled_run_id]
    assert whmcs_order_counts(vendors, [handled_order, new_order]) == [1, 1]


async def hand_over_across_a_long_temporal_outage(
    dev_env: WorkflowEnvironment,
    bridges: Bridges,
    replay_store: Redis,
    json_log: io.StringIO,
    orders: list[SampleOrder],
    outlast: Callable[[], Awaitable[None]],
) -> tuple[BridgeRun, list[int]]:
    """Three approvals: the first handed over; the second held while Temporal is away, until
    `outlast` has let Salesforce give up on the bridge; the third once Temporal is back. The
    bridge's run and the three replay ids."""
    vendors = bridges.vendors
    async with running_tcp_proxy(dev_env.client.service_client.config.target_host) as temporal:
        client = await impatient_client(temporal.address, dev_env)
        async with bridges.running(client=client) as live:
            [first] = approve(vendors, orders[:1])
            await wait_until_handed_over(live, replay_store, first)

            await temporal.stop()
            [delayed] = approve(vendors, orders[1:2])
            await wait_until(
                lambda: bool(log_lines(json_log, NOT_ACKNOWLEDGED)),
                "the bridge holds the event Temporal did not acknowledge",
            )
            await outlast()
            await temporal.start()
            await wait_until_handed_over(live, replay_store, delayed)

            [after] = approve(vendors, orders[2:])
            await wait_until_handed_over(live, replay_store, after)
    return live, [first, delayed, after]


@ON_COMETD
@pytest.mark.usefixtures("dev_worker")
async def test_a_hand_over_slower_than_the_reconnect_deadline_loses_and_doubles_nothing(
    dev_env: WorkflowEnvironment,
    vendors: LocalVendors,
    integrations: Integrations,
    replay_store: Redis,
    bridges: Bridges,
    json_log: io.StringIO,
) -> None:
    """Temporal is away longer than Salesforce waits for a CometD client after a delivery
    (40 s): the bridge keeps the event, hands it over when Temporal is back, then meets
    `403::Unknown client`, handshakes again from the stored id and goes on."""
    orders = await unapproved_orders(vendors, integrations, 3)

    async def outlast_the_reconnect_deadline() -> None:
        vendors.salesforce.advance_clock(seconds=RECONNECT_DEADLINE_SECONDS + 1)

    live, approvals = await hand_over_across_a_long_temporal_outage(
        dev_env, bridges, replay_store, json_log, orders, outlast_the_reconnect_deadline
    )

    assert live.handled == approvals
    assert len(log_lines(json_log, CLIENT_FORGOTTEN)) == 1
    assert vendors.salesforce.call_counts()["handshake"] == 2
    assert await outcomes(dev_env.client, orders) == [ProvisionOutcome.ACTIVATED] * 3
    assert whmcs_order_counts(vendors, orders) == [1, 1, 1]


@pytest.mark.usefixtures("dev_worker")
async def test_a_hand_over_slower_than_the_pubsub_idle_close_loses_and_doubles_nothing(
    dev_env: WorkflowEnvironment,
    vendors: LocalVendors,
    integrations: Integrations,
    replay_store: Redis,
    bridges: Bridges,
    json_log: io.StringIO,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Temporal is away longer than the Pub/Sub API keeps a stream on which nothing is
    requested (the bridge asks for the next batch only after Temporal acknowledged this one;
    batches of one event here, so one event fills it): the server closes the stream, the
    bridge hands the event over when Temporal is back, then subscribes again from the stored
    id and goes on."""
    monkeypatch.setenv("SF_PUBSUB_BATCH_SIZE", "1")
    orders = await unapproved_orders(vendors, integrations, 3)

    async def outlast_the_idle_close() -> None:
        vendors.salesforce.advance_clock(seconds=PUBSUB_IDLE_CLOSE_SECONDS + 1)
        await wait_until(
            lambda: not vendors.salesforce.pubsub_streams(), "Salesforce closes the stream"
        )

    live, approvals = await hand_over_across_a_long_temporal_outage(
        dev_env, bridges, replay_store, json_log, orders, outlast_the_idle_close
    )

    assert live.handled == approvals
    assert len(log_lines(json_log, STREAM_CLOSED)) == 1
    assert await outcomes(dev_env.client, orders) == [ProvisionOutcome.ACTIVATED] * 3
    assert whmcs_order_counts(vendors, orders) == [1, 1, 1]


@pytest.mark.parametrize(
    ("stored", "problem"),
    [
        pytest.param(b"not-a-replay-id", "is 'not-a-replay-id', not a whole number", id="word"),
        pytest.param(
            b"-1",
            "is -1, the subscription option for new events only, not the replay id of an event"
            " (the bridge stores only those)",
            id="subscription-option",
        ),
        pytest.param(b"\xff\xfe\x00", r"is binary data, not text (b'\xff\xfe\x00')", id="binary"),
        pytest.param(
            b"4242",
            "holds 4242, a CometD replay id (written with SF_EVENTS_TRANSPORT=cometd); the "
            "Pub/Sub API cannot resume from it",
            id="cometd-id-after-switching-to-pubsub",
        ),
    ],
)
async def test_an_unusable_stored_replay_id_replays_all_retained_events_once(
    dev_env: WorkflowEnvironment,
    late_worker: LateWorker,
    vendors: LocalVendors,
    integrations: Integrations,
    replay_store: Redis,
    bridges: Bridges,
    json_log: io.StringIO,
    stored: bytes,
    problem: str,
) -> None:
    """Someone edited the stored replay id: one error line naming the key and what is wrong,
    then every retained event (-2), even with SF_EVENTS_REPLAY=LATEST (which would skip what
    came while the bridge was down), the handled ones recognised by their workflow id; the
    next acknowledged event's id replaces the value."""
    handled_order, new_order = await unapproved_orders(vendors, integrations, 2)
    async with bridges.running():  # no worker until the end: the first run stays open
        [handled] = approve(vendors, [handled_order])
        await wait_until_stored(replay_store, handled)
    [handled_run_id] = await current_run_ids(dev_env.client, [handled_order])
    await replay_store.set(REPLAY_KEY, stored)
    [new] = approve(vendors, [new_order])

    async with bridges.running(replay=ReplayMode.LATEST) as restarted:
        await wait_until_handed_over(restarted, replay_store, new)

    [error] = log_lines(json_log, STORED_ID_UNUSABLE)
    assert (error["level"], error["key"], error["problem"]) == ("error", REPLAY_KEY, problem)
    assert restarted.handled == [handled, new]
    assert restarted.bridge.counts == {
        IntakeOutcome.ALREADY_RUNNING: 1,
        IntakeOutcome.STARTED: 1,
    }
    async with late_worker():
        orders = [handled_order, new_order]
        assert await outcomes(dev_env.client, orders) == [ProvisionOutcome.ACTIVATED] * 2
    assert await current_run_ids(dev_env.client, [handled_order]) == [handled_run_id]


class RunClosesBeforeTheStart(Interceptor):
    """Opens the intake's window: once armed, before the bridge's next start (or signal) of
    the workflow reaches Temporal, `close_the_run` closes the run the bridge just described."""

    def __init__(self, close_the_run: Callable[[], Awaitable[None]]) -> None:
        self.close_the_run = close_the_run
        self.armed = False
        self.provoked = 0

    def intercept_client(self, next: OutboundInterceptor) -> OutboundInterceptor:
        return _ClosingTheRunFirst(next, self)


class _ClosingTheRunFirst(OutboundInterceptor):
    def __init__(self, next: OutboundInterceptor, race: RunClosesBeforeTheStart) -> None:
        super().__init__(next)
        self._race = race

    async def start_workflow(self, input: StartWorkflowInput) -> WorkflowHandle[Any, Any]:
        if self._race.armed:
            self._race.armed = False
            await self._race.close_the_run()
            self._race.provoked += 1
        return await self.next.start_workflow(input)


async def test_a_run_closing_between_describe_and_start_is_not_started_again(
    dev_env: WorkflowEnvironment,
    late_worker: LateWorker,
    vendors: LocalVendors,
    integrations: Integrations,
    replay_store: Redis,
    bridges: Bridges,
    json_log: io.StringIO,
) -> None:
    """A duplicate event finds the order's run still running; before its signal-with-start
    reaches Temporal the run completes. The duplicate must not start a second run (which
    would only find the order Activated), and the bridge logs and counts what happened: the
    run handled the event, not "already running"."""
    orders = await unapproved_orders(vendors, integrations, 1)

    async def complete_the_run() -> None:
        async with late_worker():
            await provisioning_results(dev_env.client, orders)

    race = RunClosesBeforeTheStart(complete_the_run)
    config = dev_env.client.config()
    config["interceptors"] = [race]
    client = Client(**config)
    # No worker: the first run is still running when the duplicate is described.
    async with bridges.running(client=client) as live:
        [approval] = approve(vendors, orders)
        await wait_until_handed_over(live, replay_store, approval)
        [run_id] = await current_run_ids(dev_env.client, orders)
        race.armed = True
        [duplicate] = publish_duplicates(vendors, orders)
        await wait_until_handed_over(live, replay_store, duplicate)

    assert race.provoked == 1
    assert await current_run_ids(dev_env.client, orders) == [run_id]
    assert await outcomes(dev_env.client, orders) == [ProvisionOutcome.ACTIVATED]
    assert live.bridge.counts == {IntakeOutcome.STARTED: 1, IntakeOutcome.ALREADY_DONE: 1}
    [handled] = log_lines(json_log, ALREADY_HANDLED)
    assert (event_number(handled["replay_id"]), handled["reason"]) == (
        duplicate,
        "the run closed while the event was handed over",
    )
    assert [line["outcome"] for line in log_lines(json_log, ENQUEUED)] == ["started"]
    assert whmcs_order_counts(vendors, orders) == [1]
