"""What an operator filters and lists failed orders by: the search attributes and the memo a
ProvisionOrder keeps while it waits for a manual retry (dev server: its visibility store is
the one `portalctl order list` and the Temporal UI read)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import pytest
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from contracts.provisioning import ORDER_MEMO, OrderMemo, ProvisionStep, RetryRequest
from starters.demo.local_vendors import LocalVendors
from starters.demo.sample_orders import SampleOrderSpec
from starters.provisioning import request_provisioning
from tests.support.polling import wait_until
from tests.support.provisioning import Handle, sample_order, wait_for_failure
from workers.dependencies import Integrations
from workflows.provision_order import ProvisionOrder
from workflows.search_attributes import ERROR_CODE, FAILED_AT, FAILED_STEP

pytestmark = pytest.mark.e2e


@pytest.fixture
async def failed_order(
    dev_env: WorkflowEnvironment,
    dev_worker: None,
    task_queue: str,
    vendors: LocalVendors,
    integrations: Integrations,
) -> AsyncIterator[tuple[Handle, int]]:
    order = await sample_order(vendors, integrations, SampleOrderSpec(has_payment_method=False))
    handle = await request_provisioning(dev_env.client, order.order_id, task_queue=task_queue)
    await wait_for_failure(dev_env, handle)
    yield handle, order.whmcs_client_id
    with contextlib.suppress(RPCError):
        await handle.terminate("test finished")


async def test_a_failed_order_is_found_by_step_and_code_with_its_message(
    dev_env: WorkflowEnvironment, failed_order: tuple[Handle, int]
) -> None:
    handle, _ = failed_order
    query = (
        f'WorkflowId = "{handle.id}" AND ActivationStatus = "Failed" '
        'AND FailedStep = "payment_method" AND ErrorCode = "409"'
    )

    async def listed() -> bool:
        return [execution.id async for execution in dev_env.client.list_workflows(query)] == [
            handle.id
        ]

    await wait_until(listed, "the failed order is listed by its step and code")
    description = await handle.describe()
    assert description.typed_search_attributes.get(FAILED_AT) is not None
    memo = await description.memo_value(ORDER_MEMO, type_hint=OrderMemo)
    assert (memo.runs, memo.failure_message) == (1, "Payment method missing")
    status = await handle.query(ProvisionOrder.status)
    assert status.last_error is not None
    assert status.current_step == status.last_error.step == ProvisionStep.PAYMENT_METHOD


async def test_an_accepted_retry_clears_the_failure_attributes(
    vendors: LocalVendors, failed_order: tuple[Handle, int]
) -> None:
    handle, client_id = failed_order
    vendors.whmcs.add_pay_method(client_id)

    await handle.execute_update(ProvisionOrder.request_retry, RetryRequest())
    await handle.result()

    description = await handle.describe()
    attributes = description.typed_search_attributes
    assert [attributes.get(key) for key in (FAILED_STEP, ERROR_CODE, FAILED_AT)] == [None] * 3
    memo = await description.memo_value(ORDER_MEMO, type_hint=OrderMemo)
    assert (memo.runs, memo.failure_message) == (2, None)
