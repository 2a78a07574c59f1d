"""Three `portalctl worker` processes on the dev server, one SIGKILLed while it is in the
middle of WHMCS AddOrder calls (the open workflow tasks in Temporal's history name it): the
other two finish every order, each with exactly one WHMCS order, and a SIM's Freebit
operations keep the worker's FREEBIT_OPERATION_GAP between them whichever worker ran them.
Prints the counts."""

from __future__ import annotations

import asyncio
import os
import random
import signal
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from contracts.provisioning import provision_workflow_id
from contracts.sim import QuotaTopUp, sim_workflow_id
from emulators.faults import Fault, FaultKind
from emulators.freebit import NewSimAccount
from integrations.config import DatabaseSettings
from starters.demo.bulk_orders import OrderFactory
from starters.demo.local_vendors import LocalVendors
from starters.demo.portal_processes import WORKER_READY, PortalProcess
from starters.provisioning import request_provisioning
from starters.sim_operations import request_sim_operation
from tests.conftest import TEST_REDIS_URL
from tests.support.process_environment import portal_environment
from workers.dependencies import Integrations
from workflows.sim_account import SimAccount

WORKERS = 3
ORDERS = 9
TOP_UPS = (100, 200, 300)
OPERATION_GAP = timedelta(seconds=3)
"""The worker's FREEBIT_OPERATION_GAP (the vendor's is 30 min)."""
ADD_ORDER_SECONDS = 3.0
"""How long WHMCS takes over each AddOrder: long enough to kill a worker in the middle."""
CALL_TIMEOUT = "5s"
"""PROVISION_CALL_TIMEOUT: how soon a killed worker's calls are retried elsewhere."""
SETTLE_SECONDS = 90.0
PREFER_SIM_WORKER_SECONDS = 1.0
POLL_SECONDS = 0.1


@pytest.fixture
def environment(
    dev_env: WorkflowEnvironment, task_queue: str, vendors: LocalVendors, database: DatabaseSettings
) -> dict[str, str]:
    return {
        **portal_environment(dev_env, task_queue, vendors, database, TEST_REDIS_URL),
        "FREEBIT_OPERATION_GAP": f"{OPERATION_GAP.seconds}s",
        "PROVISION_CALL_TIMEOUT": CALL_TIMEOUT,
        "PROVISION_RETRY_INITIAL_INTERVAL": "200ms",
    }


async def workers_calling_add_order(
    vendors: LocalVendors, handles: list[WorkflowHandle[Any, Any]]
) -> Counter[str]:
    """Worker identity (pid@host) -> orders it is in the middle of, while WHMCS holds AddOrder
    calls: ProvisionOrder's vendor calls are local activities, so the worker running one
    holds the workflow task open (started, not completed) until it returns."""
    if vendors.whmcs.call_counts().get("AddOrder", 0) <= len(vendors.whmcs.orders()):
        return Counter()
    calls: Counter[str] = Counter()
    for handle in handles:
        history = await handle.fetch_history()
        last = history.events[-1]
        if last.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED:
            calls[last.workflow_task_started_event_attributes.identity] += 1
    return calls


async def worker_to_kill(
    vendors: LocalVendors, handles: list[WorkflowHandle[Any, Any]], sim: WorkflowHandle[Any, Any]
) -> tuple[str, int, bool]:
    """A worker in the middle of AddOrder calls: the one running the SIM's workflow if it is
    one of them within a second (so that the SIM's operations move to another worker), else
    the busiest. Its identity, its calls, whether it runs the SIM's workflow."""
    loop = asyncio.get_running_loop()
    async with asyncio.timeout(SETTLE_SECONDS):
        while not (calls := await workers_calling_add_order(vendors, handles)):  # noqa: ASYNC110
            await asyncio.sleep(POLL_SECONDS)
    prefer_until = loop.time() + PREFER_SIM_WORKER_SECONDS
    while True:
        sim_worker = await workflow_worker(sim)
        if sim_worker is not None and sim_worker in calls:
            return sim_worker, calls[sim_worker], True
        if loop.time() > prefer_until:
            identity, interrupted = calls.most_common(1)[0]
            return identity, interrupted, False
        await asyncio.sleep(POLL_SECONDS)
        calls = await workers_calling_add_order(vendors, handles) or calls


async def workflow_worker(handle: WorkflowHandle[Any, Any]) -> str | None:
    """The worker that ran the workflow's latest workflow task (its cache holds the workflow)."""
    for event in reversed((await handle.fetch_history()).events):
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
            return event.workflow_task_completed_event_attributes.identity
    return None


async def request_top_ups(client: Client, account: str, task_queue: str) -> None:
    for quota in TOP_UPS:
        await request_sim_operation(
            client, account, QuotaTopUp(quota_mb=quota), task_queue=task_queue
        )


async def all_completed(handles: list[WorkflowHandle[Any, Any]]) -> None:
    async with asyncio.timeout(SETTLE_SECONDS):
        await asyncio.gather(*(handle.result() for handle in handles))


async def test_a_worker_killed_mid_call_loses_and_doubles_nothing(
    dev_env: WorkflowEnvironment,
    task_queue: str,
    vendors: LocalVendors,
    integrations: Integrations,
    environment: dict[str, str],
    tmp_path: Path,
) -> None:
    account = f"080{random.randrange(10**8):08d}"
    vendors.freebit.set_timing(contract_line_lock=timedelta(0), operation_gap=timedelta(0))
    vendors.freebit.add_account(NewSimAccount(account=account, plan_code="PASI_10GB"))
    factory = OrderFactory(vendors.salesforce, vendors.whmcs, integrations.id_mappings)
    orders = await factory.create_many(ORDERS, activating=True)
    vendors.whmcs.inject(
        Fault(target="AddOrder", kind=FaultKind.LATENCY, times=ORDERS, seconds=ADD_ORDER_SECONDS)
    )
    workers = [
        PortalProcess("worker", environment, tmp_path / f"worker-{n}.log", WORKER_READY)
        for n in range(WORKERS)
    ]
    client = dev_env.client
    sim = client.get_workflow_handle_for(SimAccount.run, sim_workflow_id(account))
    try:
        await asyncio.gather(*(asyncio.to_thread(worker.start) for worker in workers))
        top_ups = asyncio.create_task(request_top_ups(client, account, task_queue))
        handles = [
            await request_provisioning(client, order.order_id, task_queue=task_queue)
            for order in orders
        ]
        identity, interrupted, ran_sim = await worker_to_kill(vendors, handles, sim)
        killed = next(worker for worker in workers if identity.startswith(f"{worker.pid}@"))
        os.kill(killed.pid, signal.SIGKILL)
        await top_ups
        await all_completed(handles)
        sim_result = await sim.result()
        overview = await sim.query(SimAccount.overview)
    finally:
        for worker in workers:
            worker.stop()

    wanted = {order.order_id for order in orders}
    whmcs = Counter(
        order.notes.removeprefix("sfOrderId=")
        for order in vendors.whmcs.orders()
        if order.notes.removeprefix("sfOrderId=") in wanted
    )
    statuses = Counter(
        str(record.get("Activation_Status__c"))
        for record in vendors.salesforce.list_records("Order")
        if record["Id"] in wanted
    )
    gaps = [
        later.started_at - earlier.finished_at
        for earlier, later in zip(overview.history, overview.history[1:], strict=False)
        if earlier.finished_at is not None and later.started_at is not None
    ]
    gap_seconds = [round(gap.total_seconds(), 1) for gap in gaps]
    sim_operations_by_worker = [
        worker.log_path.read_text().count('"SIM operation finished"') for worker in workers
    ]
    print(
        f"\n{WORKERS} workers, one SIGKILLed during {interrupted} AddOrder call(s): "
        f"{ORDERS} orders, {statuses['Activated']} Activated, {whmcs.total()} WHMCS orders, "
        f"{vendors.whmcs.call_counts().get('AddOrder')} AddOrder calls; SIM operations "
        f"{sim_result.operations_run}, gaps {gap_seconds} s, "
        f"run by the workers {sim_operations_by_worker} (the killed one: "
        f"worker-{workers.index(killed)}, {'running' if ran_sim else 'not running'} the "
        "SIM's workflow)"
    )
    assert statuses["Activated"] == ORDERS
    assert whmcs == Counter(wanted)
    for handle in handles:
        assert (await handle.describe()).id in {provision_workflow_id(o) for o in wanted}
    assert sim_result.operations_run == len(TOP_UPS)
    assert [entry.operation for entry in overview.history] == [
        QuotaTopUp(quota_mb=quota) for quota in TOP_UPS
    ]
    assert len(gaps) == len(TOP_UPS) - 1
    assert all(gap >= OPERATION_GAP for gap in gaps)
