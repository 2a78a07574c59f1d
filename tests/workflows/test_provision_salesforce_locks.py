"""ProvisionOrder when Salesforce refuses the write-back because the Order is locked, on the
time-skipping server against the emulators over real HTTP(S).

A row lock (UNABLE_TO_LOCK_ROW) lasts while another transaction runs: the activity retry
policy outlasts it. An approval lock (ENTITY_IS_LOCKED) lasts until a person finishes the
approval or unlocks the record: the order fails visibly with that code and a manual retry
resumes at the write-back. Either way WHMCS has exactly one order.
"""

from __future__ import annotations

import pytest
from temporalio.testing import WorkflowEnvironment

from contracts.provisioning import (
    ProvisionOutcome,
    ProvisionPolicy,
    ProvisionStep,
    RetryRequest,
)
from emulators.salesforce.control_models import RecordErrorCode
from starters.demo.local_vendors import LocalVendors
from tests.support.provisioning import Provision, sample_order, wait_for_failure
from workers.dependencies import Integrations
from workflows.provision_order import ProvisionOrder

POLICY = ProvisionPolicy()
"""The worker's defaults: 3 attempts, from 5 s, 30 days of waiting for a manual retry."""

pytestmark = pytest.mark.usefixtures("worker")


async def test_row_lock_on_the_final_write_is_retried_to_activated(
    provision: Provision, vendors: LocalVendors, integrations: Integrations
) -> None:
    order = await sample_order(vendors, integrations)
    # Locked on the first two attempts of sf_success_update, free on the third (the last one
    # the default policy allows).
    vendors.salesforce.inject_record_error(
        RecordErrorCode.UNABLE_TO_LOCK_ROW, operation="composite", times=POLICY.max_attempts - 1
    )

    result = await (await provision(order.order_id)).result()

    assert result.outcome is ProvisionOutcome.ACTIVATED
    assert vendors.salesforce.call_counts()["composite"] == POLICY.max_attempts
    whmcs_calls = vendors.whmcs.call_counts()
    assert (whmcs_calls["AddOrder"], whmcs_calls["AcceptOrder"]) == (1, 1)
    [whmcs_order] = vendors.whmcs.orders(order.whmcs_client_id)
    record = vendors.salesforce.get_record("Order", order.order_id)
    assert (record["Activation_Status__c"], record["WHMCS_Order_ID__c"]) == (
        "Activated",
        str(whmcs_order.id),
    )
    assert record["Activation_Error_Code__c"] is None


async def test_approval_lock_waits_for_a_manual_retry_that_resumes_at_the_write_back(
    env: WorkflowEnvironment,
    provision: Provision,
    vendors: LocalVendors,
    integrations: Integrations,
) -> None:
    order = await sample_order(vendors, integrations)
    # Approval-locked from the final write on: the Failed status cannot be written either.
    vendors.salesforce.inject_record_error(
        RecordErrorCode.ENTITY_IS_LOCKED, record_id=order.order_id, times=0
    )
    handle = await provision(order.order_id)

    status = await wait_for_failure(env, handle)

    assert status.last_error is not None
    assert (status.last_error.step, status.last_error.code) == (
        ProvisionStep.SF_SUCCESS_UPDATE,
        "ENTITY_IS_LOCKED",
    )
    assert vendors.salesforce.call_counts()["composite"] == 1  # not retried for seconds
    assert vendors.salesforce.get_record("Order", order.order_id)["Activation_Status__c"] == (
        "Activating"
    )

    vendors.salesforce.clear_record_errors()  # the approval is finished
    await handle.execute_update(ProvisionOrder.request_retry, RetryRequest())
    result = await handle.result()

    assert result.outcome is ProvisionOutcome.ACTIVATED
    assert vendors.whmcs.call_counts()["AddOrder"] == 1
    [whmcs_order] = vendors.whmcs.orders(order.whmcs_client_id)
    assert result.whmcs_order_id == whmcs_order.id
    record = vendors.salesforce.get_record("Order", order.order_id)
    assert (record["Activation_Status__c"], record["Activation_Error_Code__c"]) == (
        "Activated",
        None,
    )
