"""ProvisionOrder end to end on the real dev server, with the worker, PostgreSQL and the
emulators over real HTTP(S). These runs also produce the committed histories that the replay
tests replay: `pytest tests/e2e --record-histories`."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from activities.policies import PolicyActivities
from contracts.provisioning import (
    ProvisionOrderResult,
    ProvisionOutcome,
    ProvisionPolicy,
    ProvisionStep,
    RetryRequest,
)
from emulators.faults import Fault, FaultKind
from starters.demo.local_vendors import LocalVendors
from starters.demo.sample_orders import SampleOrderSpec, create_sample_order
from starters.provisioning import request_provisioning
from tests.conftest import SaveHistory
from tests.support.polling import wait_until
from workers.dependencies import Integrations
from workflows.provision_order import ProvisionOrder

POLICY = ProvisionPolicy(max_attempts=2, retry_initial_interval=timedelta(milliseconds=200))


@pytest.fixture
def worker_policies(integrations: Integrations) -> PolicyActivities:
    """Short retries, set on the worker."""
    return dataclasses.replace(integrations.policies, provisioning=POLICY)


Handle = WorkflowHandle[ProvisionOrder, ProvisionOrderResult]


pytestmark = pytest.mark.usefixtures("dev_worker")


async def test_order_is_activated_once_however_often_it_is_requested(
    dev_env: WorkflowEnvironment,
    task_queue: str,
    vendors: LocalVendors,
    integrations: Integrations,
    save_history: SaveHistory,
) -> None:
    order = await create_sample_order(vendors, integrations.id_mappings)

    handles = [
        await request_provisioning(dev_env.client, order.order_id, task_queue=task_queue)
        for _ in range(3)
    ]
    runs = [
        dev_env.client.get_workflow_handle_for(
            ProvisionOrder.run, handle.id, run_id=handle.result_run_id
        )
        for handle in handles
    ]
    outcomes = [(await run.result()).outcome for run in runs]

    # A request that finds the first run still going joins it; one after it closed starts a
    # run that finds the Order Activated and skips.
    assert outcomes[0] is ProvisionOutcome.ACTIVATED
    assert set(outcomes[1:]) <= {ProvisionOutcome.ACTIVATED, ProvisionOutcome.SKIPPED}
    assert len(vendors.whmcs.orders(order.whmcs_client_id)) == 1
    assert vendors.salesforce.get_record("Order", order.order_id)["Activation_Status__c"] == (
        "Activated"
    )
    await save_history(runs[0], "provision_order_activated")


async def test_failed_order_is_fixed_and_retried_to_activated(
    dev_env: WorkflowEnvironment,
    task_queue: str,
    vendors: LocalVendors,
    integrations: Integrations,
    save_history: SaveHistory,
) -> None:
    order = await create_sample_order(
        vendors, integrations.id_mappings, SampleOrderSpec(has_payment_method=False)
    )
    handle = await request_provisioning(dev_env.client, order.order_id, task_queue=task_queue)
    while not (await handle.query(ProvisionOrder.status)).waiting_for_retry:
        await dev_env.sleep(timedelta(milliseconds=100))

    vendors.whmcs.add_pay_method(order.whmcs_client_id)
    answer = await handle.execute_update(ProvisionOrder.request_retry, RetryRequest())
    result = await handle.result()

    assert answer.accepted
    assert result.outcome is ProvisionOutcome.ACTIVATED
    assert vendors.whmcs.call_counts()["AddOrder"] == 1
    await save_history(handle, "provision_order_failed_then_retried")


async def test_retry_sent_while_the_failure_is_being_written_is_kept(
    dev_env: WorkflowEnvironment, task_queue: str, vendors: LocalVendors, integrations: Integrations
) -> None:
    """Salesforce may already show Failed (and the operator press Retry) before the workflow
    has settled into waiting: that retry must not be answered "Already in progress"."""
    order = await create_sample_order(
        vendors, integrations.id_mappings, SampleOrderSpec(has_payment_method=False)
    )
    vendors.whmcs.inject(Fault(target="GetPayMethods", kind=FaultKind.LATENCY, seconds=0.5))
    handle = await request_provisioning(dev_env.client, order.order_id, task_queue=task_queue)

    async def marked_activating() -> bool:
        status = await handle.query(ProvisionOrder.status)
        return ProvisionStep.SF_STATUS_UPDATE in status.completed_steps

    async def writing_failure() -> bool:
        return (await handle.query(ProvisionOrder.status)).last_error is not None

    await wait_until(marked_activating, "sf_status_update is done")
    vendors.salesforce.inject(Fault(target="update", kind=FaultKind.LATENCY, seconds=0.8))
    await wait_until(writing_failure, "the Failed status is being written")

    vendors.whmcs.add_pay_method(order.whmcs_client_id)
    answer = await handle.execute_update(ProvisionOrder.request_retry, RetryRequest())

    assert answer.accepted, answer.message
    assert (await handle.result()).outcome is ProvisionOutcome.ACTIVATED
    assert vendors.whmcs.call_counts()["AddOrder"] == 1


async def test_workflow_history_carries_no_secret_material(
    dev_env: WorkflowEnvironment, task_queue: str, vendors: LocalVendors, integrations: Integrations
) -> None:
    order = await create_sample_order(vendors, integrations.id_mappings)
    handle = await request_provisioning(dev_env.client, order.order_id, task_queue=task_queue)
    await handle.result()

    history = (await handle.fetch_history()).to_json()
    whmcs = vendors.whmcs_settings
    salesforce = vendors.salesforce_settings
    assert salesforce.private_key_path is not None
    key_body = salesforce.private_key_path.read_text().splitlines()[1]
    secrets = [
        whmcs.api_secret.get_secret_value(),
        whmcs.api_identifier.get_secret_value(),
        key_body,
    ]
    assert [secret for secret in secrets if secret in history] == []
    assert "access_token" not in history
