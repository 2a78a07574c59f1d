"""Chaos: orders through the real event path (emulator approve -> Pub/Sub API or CometD -> bridge ->
ProvisionOrder -> WHMCS -> Salesforce) while the vendors fail ~10 % of their calls, the
worker is SIGKILLed and restarted, the bridge is killed and restarted, and Redis restarts
empty. At the end every order is where its fate says, WHMCS has exactly one order per
Salesforce order, the stored replay id is the last event's, no event was lost, and replaying
every retained event twice changes nothing. Prints a table of the counts.

CI runs a short version; the full one on demand:

    CHAOS_ORDERS=1000 CHAOS_WORKER_KILLS=3 .venv/bin/pytest tests/chaos -m chaos -s
"""

from __future__ import annotations

import asyncio
import json
import os
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis
from temporalio.testing import WorkflowEnvironment

from contracts.provisioning import ProvisionPolicy
from emulators.faults import Fault, FaultKind
from emulators.salesforce import ORDER_PROVISION_CHANNEL
from integrations.config import (
    DatabaseSettings,
    EventTransport,
)
from integrations.replay_store import replay_key
from starters.bridge.intake import IntakeOutcome
from starters.demo.bulk_orders import BulkOrder, OrderFactory
from starters.demo.local_vendors import LocalVendors
from starters.demo.portal_processes import PortalProcess, portal_processes
from starters.demo.redis_server import RedisServer, running_redis_server
from tests.support.bridges import positioned_bridge
from tests.support.polling import wait_until
from tests.support.process_environment import portal_environment
from tests.support.replay_ids import event_number, stored_event_number
from workers.dependencies import Integrations

ORDERS = int(os.environ.get("CHAOS_ORDERS", "50"))
WORKER_KILLS = int(os.environ.get("CHAOS_WORKER_KILLS", "1"))
APPROVALS_PER_SECOND = float(os.environ.get("CHAOS_APPROVALS_PER_SECOND", "15"))
PAYMENT_MISSING_SHARE = 20
"""One order in this many has no WHMCS pay method: Failed 409, fixed, retried."""
FAULT_PROBABILITY = 0.03
"""Per fault kind and operation; three kinds per operation make ~9 % of calls fail."""
CLIENT_TIMEOUT_MS = 1000
FAULT_HOLD_SECONDS = 2.0
CONNECT_HOLD_SECONDS = 0.5
POLL_SECONDS = 1.0
QUIET_SECONDS = 3.0
SECONDS_PER_ORDER = 1.0
"""Deadline for everything to settle: a minute plus this per order (never reached when
nothing is lost; it turns a lost order into a failure instead of a hang)."""

SALESFORCE_OPERATIONS = ("query", "update", "composite")
WHMCS_OPERATIONS = ("GetPayMethods", "GetOrders", "AddOrder", "AcceptOrder")
TRANSIENT_KINDS = (FaultKind.RATE_LIMIT, FaultKind.HTTP_503, FaultKind.TIMEOUT)
HANDED_OVER = {"Platform Event enqueued for provisioning", "Platform Event already handled"}
POLICY = ProvisionPolicy(max_attempts=6)

pytestmark = [pytest.mark.chaos, pytest.mark.timeout(300 + 3 * ORDERS)]


@dataclass
class Observations:
    failed_codes: dict[str, list[str]] = field(default_factory=dict)
    """Order id -> the error codes it showed as Failed in Salesforce, in order."""
    retried: set[str] = field(default_factory=set)
    disruptions: Counter[str] = field(default_factory=Counter)


def inject_faults(vendors: LocalVendors) -> None:
    for operation in SALESFORCE_OPERATIONS:
        for kind in TRANSIENT_KINDS:
            vendors.salesforce.inject(fault(operation, kind))
    for operation in WHMCS_OPERATIONS:
        kinds = (FaultKind.COMMIT_THEN_TIMEOUT,) if operation == "AddOrder" else ()
        for kind in (*TRANSIENT_KINDS, *kinds):
            vendors.whmcs.inject(fault(operation, kind))


def fault(operation: str, kind: FaultKind) -> Fault:
    return Fault(
        target=operation,
        kind=kind,
        times=0,
        probability=FAULT_PROBABILITY,
        seconds=FAULT_HOLD_SECONDS,
    )


def process_environment(
    dev_env: WorkflowEnvironment,
    task_queue: str,
    vendors: LocalVendors,
    database: DatabaseSettings,
    redis: RedisServer,
    transport: EventTransport,
) -> dict[str, str]:
    return {
        **portal_environment(dev_env, task_queue, vendors, database, redis.url),
        "SF_EVENTS_TRANSPORT": transport.value,
        # A Worker Deployment of this run's own, one build for every worker (re)start: a
        # commit to the checkout meanwhile must not make the restarted worker another build.
        "TEMPORAL_DEPLOYMENT_NAME": f"chaos-{task_queue}",
        "TEMPORAL_WORKER_BUILD_ID": "chaos",
        "SF_TIMEOUT": str(CLIENT_TIMEOUT_MS),
        "WHMCS_TIMEOUT": str(CLIENT_TIMEOUT_MS),
        "SF_EVENTS_REPLAY": "ALL",
        "PROVISION_MAX_ATTEMPTS": str(POLICY.max_attempts),
        "PROVISION_RETRY_INITIAL_INTERVAL": "200ms",
        "PROVISION_CALL_TIMEOUT": "5s",
    }


def disruption_schedule(orders: int) -> dict[int, str]:
    """After how many approvals which disruption happens."""
    schedule = {
        orders * (kill + 1) // (WORKER_KILLS + 1): "worker SIGKILL" for kill in range(WORKER_KILLS)
    }
    schedule.setdefault(orders * 2 // 5 + 1, "bridge restart")
    schedule.setdefault(orders * 3 // 5 + 2, "redis restart")
    return schedule


async def disrupt(
    what: str, worker: PortalProcess, bridge: PortalProcess, redis: RedisServer
) -> None:
    if what == "worker SIGKILL":
        worker.kill()
        await asyncio.to_thread(worker.start)
    elif what == "bridge restart":
        bridge.kill()
        await asyncio.to_thread(bridge.start)
    else:
        await asyncio.to_thread(redis.stop)
        await asyncio.to_thread(redis.start)


async def approve_with_disruptions(
    vendors: LocalVendors,
    orders: list[BulkOrder],
    disruptions: Counter[str],
    worker: PortalProcess,
    bridge: PortalProcess,
    redis: RedisServer,
) -> None:
    schedule = disruption_schedule(len(orders))
    for approved, order in enumerate(orders):
        if what := schedule.get(approved):
            await disrupt(what, worker, bridge, redis)
            disruptions[what] += 1
        await asyncio.to_thread(vendors.salesforce.approve_order, order.order_id)
        await asyncio.sleep(1 / APPROVALS_PER_SECOND)


async def fix_failed_orders(
    vendors: LocalVendors, orders: list[BulkOrder], observed: Observations
) -> None:
    """What an operator does: a Failed order gets what it lacked, then Provision / Retry."""
    by_id = {order.order_id: order for order in orders}
    while True:
        for record in await asyncio.to_thread(vendors.salesforce.list_records, "Order"):
            order = by_id.get(record["Id"])
            if order is None or record.get("Activation_Status__c") != "Failed":
                continue
            codes = observed.failed_codes.setdefault(order.order_id, [])
            if order.order_id in observed.retried:
                continue
            codes.append(str(record.get("Activation_Error_Code__c")))
            if not order.has_payment_method:
                await asyncio.to_thread(vendors.whmcs.add_pay_method, order.whmcs_client_id)
            observed.retried.add(order.order_id)
            await asyncio.to_thread(vendors.salesforce.approve_order, order.order_id)
        await asyncio.sleep(POLL_SECONDS)


def activation_statuses(vendors: LocalVendors, orders: list[BulkOrder]) -> Counter[str]:
    wanted = {order.order_id for order in orders}
    return Counter(
        str(record.get("Activation_Status__c"))
        for record in vendors.salesforce.list_records("Order")
        if record["Id"] in wanted
    )


async def until_all_activated(vendors: LocalVendors, orders: list[BulkOrder]) -> None:
    async with asyncio.timeout(60 + SECONDS_PER_ORDER * len(orders)):
        while True:
            statuses = await asyncio.to_thread(activation_statuses, vendors, orders)
            if statuses["Activated"] == len(orders):
                return
            await asyncio.sleep(POLL_SECONDS)


def whmcs_orders_per_sf_order(vendors: LocalVendors) -> Counter[str]:
    return Counter(order.notes.removeprefix("sfOrderId=") for order in vendors.whmcs.orders())


def vendor_calls(vendors: LocalVendors) -> Counter[str]:
    """The calls the workflow makes, each answered or failed (CometD and login excluded)."""
    calls = {**vendors.salesforce.call_counts(), **vendors.whmcs.call_counts()}
    return Counter(
        {op: n for op, n in calls.items() if op in (*SALESFORCE_OPERATIONS, *WHMCS_OPERATIONS)}
    )


def handed_over_replay_ids(log_path: Path) -> set[int]:
    """The emulator's numbers of the events the bridge's log says it handed over."""
    return {
        event_number(entry["replay_id"])
        for entry in _json_lines(log_path)
        if entry["event"] in HANDED_OVER
    }


def _json_lines(path: Path) -> Iterator[dict[str, Any]]:
    for line in path.read_text().splitlines():
        if line.startswith("{"):
            entry = json.loads(line)
            if isinstance(entry, dict) and "event" in entry:
                yield entry


async def replay_all_retained(
    dev_env: WorkflowEnvironment,
    task_queue: str,
    vendors: LocalVendors,
    database: DatabaseSettings,
    transport: EventTransport,
) -> Counter[IntakeOutcome]:
    """`portalctl order backfill`'s path: every retained event (-2), nothing stored."""
    async with positioned_bridge(
        dev_env.client,
        task_queue=task_queue,
        vendors=vendors,
        database=database,
        transport=transport,
    ) as bridge:
        await bridge.run(stop_when_quiet_for=QUIET_SECONDS)
        return bridge.counts


async def workflow_count(dev_env: WorkflowEnvironment, task_queue: str) -> int:
    return (await dev_env.client.count_workflows(f"TaskQueue = '{task_queue}'")).count


@pytest.mark.parametrize("transport", list(EventTransport))
async def test_nothing_is_lost_or_doubled_under_chaos(
    dev_env: WorkflowEnvironment,
    task_queue: str,
    vendors: LocalVendors,
    integrations: Integrations,
    database: DatabaseSettings,
    tmp_path: Path,
    transport: EventTransport,
) -> None:
    vendors.salesforce.set_connect_hold(CONNECT_HOLD_SECONDS)
    vendors.salesforce.set_pubsub_keepalive(CONNECT_HOLD_SECONDS)
    vendors.salesforce.set_api_limit(100 * ORDERS)  # the org's daily allowance is not on trial
    factory = OrderFactory(vendors.salesforce, vendors.whmcs, integrations.id_mappings)
    orders = await factory.create_many(
        ORDERS, without_payment_method=max(1, ORDERS // PAYMENT_MISSING_SHARE)
    )
    orders.reverse()  # the payment-missing ones come last, after the disruptions
    observed = Observations()
    with running_redis_server(tmp_path) as redis:
        environment = process_environment(dev_env, task_queue, vendors, database, redis, transport)
        with portal_processes(environment, tmp_path) as (worker, bridge):
            assert bridge is not None
            inject_faults(vendors)
            fixer = asyncio.create_task(fix_failed_orders(vendors, orders, observed))
            try:
                await approve_with_disruptions(
                    vendors, orders, observed.disruptions, worker, bridge, redis
                )
                await until_all_activated(vendors, orders)
            finally:
                fixer.cancel()
                vendors.salesforce.clear_faults()
                vendors.whmcs.clear_faults()
            last_replay_id = vendors.salesforce.list_events()[-1]["data"]["event"]["replayId"]
            async with Redis.from_url(redis.url, decode_responses=True) as store:
                key = replay_key(ORDER_PROVISION_CHANNEL)

                async def stored_is_last() -> bool:
                    stored = await store.get(key)
                    return stored is not None and stored_event_number(stored) == last_replay_id

                await wait_until(stored_is_last, f"{key} is {last_replay_id}")
            bridge.stop()
            handed_over = handed_over_replay_ids(bridge.log_path)
            worker_starts = worker.starts

    published = {event["data"]["event"]["replayId"] for event in vendors.salesforce.list_events()}
    whmcs_before = whmcs_orders_per_sf_order(vendors)
    workflows_before = await workflow_count(dev_env, task_queue)
    replays = [
        await replay_all_retained(dev_env, task_queue, vendors, database, transport)
        for _ in range(2)
    ]
    whmcs_after = whmcs_orders_per_sf_order(vendors)

    payment_missing = {order.order_id for order in orders if not order.has_payment_method}
    statuses = activation_statuses(vendors, orders)
    wrong_fates = {
        order_id: codes
        for order_id, codes in observed.failed_codes.items()
        if codes != ["409"] or order_id not in payment_missing
    } | {order_id: [] for order_id in payment_missing - observed.failed_codes.keys()}
    doubled = {order_id: n for order_id, n in whmcs_before.items() if n != 1}
    rows = {
        "orders": ORDERS,
        "Activated in Salesforce": statuses["Activated"],
        "Failed 409, fixed, retried to Activated": len(payment_missing & observed.retried),
        "orders with a fate other than injected": len(wrong_fates),
        "vendor API calls per order (6 without faults)": round(
            sum(vendor_calls(vendors).values()) / ORDERS, 2
        ),
        "WHMCS orders": whmcs_before.total(),
        "Salesforce orders without exactly one WHMCS order": len(doubled)
        + len({order.order_id for order in orders} - whmcs_before.keys()),
        "events published": len(published),
        "events never handed to Temporal": len(published - handed_over),
        "stored replay id == last event's": "yes",
        "worker SIGKILLs / bridge restarts / Redis restarts": (
            f"{observed.disruptions['worker SIGKILL']} / "
            f"{observed.disruptions['bridge restart']} / {observed.disruptions['redis restart']}"
        ),
        "worker starts": worker_starts,
        "workflows": workflows_before,
        "replay ALL x2: workflows started": sum(r[IntakeOutcome.STARTED] for r in replays),
        "replay ALL x2: events seen as already done": sum(
            r[IntakeOutcome.ALREADY_DONE] for r in replays
        ),
        "replay ALL x2: new WHMCS orders": whmcs_after.total() - whmcs_before.total(),
        "replay ALL x2: new workflows": await workflow_count(dev_env, task_queue)
        - workflows_before,
    }
    print(f"\nchaos run ({transport.value})")
    for label, value in rows.items():
        print(f"  {label:<52} {value}")

    assert statuses["Activated"] == ORDERS
    assert wrong_fates == {}
    assert doubled == {}
    assert whmcs_before.keys() >= {order.order_id for order in orders}
    assert published <= handed_over
    assert workflows_before == ORDERS
    assert observed.disruptions["worker SIGKILL"] == WORKER_KILLS
    assert [r[IntakeOutcome.STARTED] for r in replays] == [0, 0]
    assert whmcs_after == whmcs_before
    assert await workflow_count(dev_env, task_queue) == workflows_before
