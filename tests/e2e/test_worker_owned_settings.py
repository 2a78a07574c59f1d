"""Policy settings belong to the worker: set on the `portalctl worker` process they take effect,
whatever the process that starts the workflow has in its environment."""

from __future__ import annotations

import random
from datetime import timedelta
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from contracts.provisioning import ProvisionStep, provision_workflow_id
from contracts.sim import QuotaTopUp, sim_workflow_id
from emulators.faults import Fault, FaultKind
from emulators.freebit import NewSimAccount
from integrations.config import DatabaseSettings
from starters.demo.local_vendors import LocalVendors
from starters.demo.portal_processes import portal_processes
from starters.demo.sample_orders import create_sample_order
from tests.conftest import TEST_REDIS_URL
from tests.support.cli import run_process
from tests.support.polling import wait_until
from tests.support.process_environment import portal_environment
from workers.dependencies import Integrations
from workflows.provision_order import ProvisionOrder
from workflows.sim_account import SimAccount

WORKER_GAP = timedelta(seconds=5)
"""Long enough for the second `portalctl sim` to start before the first run ends."""


@pytest.fixture
def environment(
    dev_env: WorkflowEnvironment, task_queue: str, vendors: LocalVendors, database: DatabaseSettings
) -> dict[str, str]:
    """What both processes share: the servers, the emulators, the task queue."""
    return portal_environment(dev_env, task_queue, vendors, database, TEST_REDIS_URL)


async def test_provision_max_attempts_is_read_from_the_worker(
    dev_env: WorkflowEnvironment,
    vendors: LocalVendors,
    integrations: Integrations,
    environment: dict[str, str],
    tmp_path: Path,
) -> None:
    order = await create_sample_order(vendors, integrations.id_mappings)
    vendors.whmcs.inject(Fault(target="AddOrder", kind=FaultKind.HTTP_503, times=0))
    worker = {**environment, "PROVISION_MAX_ATTEMPTS": "1"}
    starter = {**environment, "PROVISION_MAX_ATTEMPTS": "5"}
    handle = dev_env.client.get_workflow_handle_for(
        ProvisionOrder.run, provision_workflow_id(order.order_id)
    )

    with portal_processes(worker, tmp_path, bridge=False):
        run_process(["order", "start", order.order_id], starter)

        async def waits_for_retry() -> bool:
            return (await handle.query(ProvisionOrder.status)).waiting_for_retry

        await wait_until(waits_for_retry, "the order failed and waits for a manual retry")
        status = await handle.query(ProvisionOrder.status)

    assert status.last_error is not None
    assert (status.last_error.step, status.last_error.code) == (ProvisionStep.WHMCS_CREATE, "503")
    assert vendors.whmcs.call_counts()["AddOrder"] == 1
    await handle.terminate("test finished")


async def test_freebit_operation_gap_is_read_from_the_worker(
    dev_env: WorkflowEnvironment, vendors: LocalVendors, environment: dict[str, str], tmp_path: Path
) -> None:
    account = f"080{random.randrange(10**8):08d}"
    vendors.freebit.set_timing(contract_line_lock=timedelta(0), operation_gap=timedelta(0))
    vendors.freebit.add_account(NewSimAccount(account=account, plan_code="PASI_10GB"))
    worker = {**environment, "FREEBIT_OPERATION_GAP": f"{WORKER_GAP.seconds}s"}
    starter = {**environment, "FREEBIT_OPERATION_GAP": "1h"}
    handle = dev_env.client.get_workflow_handle_for(SimAccount.run, sim_workflow_id(account))

    with portal_processes(worker, tmp_path, bridge=False):
        for quota in (100, 200):
            run_process(["sim", "top-up", account, str(quota)], starter)
        result = await handle.result()
        overview = await handle.query(SimAccount.overview)

    assert result.operations_run == 2
    first, second = overview.history
    assert [first.operation, second.operation] == [
        QuotaTopUp(quota_mb=100),
        QuotaTopUp(quota_mb=200),
    ]
    assert first.finished_at is not None
    assert second.started_at is not None
    assert WORKER_GAP <= second.started_at - first.finished_at < timedelta(hours=1)
