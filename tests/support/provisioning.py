"""Provisioning sample orders in workflow tests, and waiting for them to fail."""

from __future__ import annotations

from collections.abc import Awaitable
from datetime import timedelta
from typing import Protocol

from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from contracts.provisioning import ProvisionOrderResult, ProvisionStatus, ProvisionStep
from starters.demo.local_vendors import LocalVendors
from starters.demo.sample_orders import SampleOrder, SampleOrderSpec, create_sample_order
from workers.dependencies import Integrations
from workflows.provision_order import ProvisionOrder

Handle = WorkflowHandle[ProvisionOrder, ProvisionOrderResult]


class Provision(Protocol):
    def __call__(self, order_id: str, queue: str = ...) -> Awaitable[Handle]: ...


async def sample_order(
    vendors: LocalVendors, integrations: Integrations, spec: SampleOrderSpec | None = None
) -> SampleOrder:
    return await create_sample_order(vendors, integrations.id_mappings, spec or SampleOrderSpec())


async def unapproved_order(vendors: LocalVendors, integrations: Integrations) -> SampleOrder:
    """An order not yet approved: approving it in Salesforce publishes the event the bridge
    hands over."""
    return await sample_order(vendors, integrations, SampleOrderSpec(activation_status=None))


async def wait_for_failure(env: WorkflowEnvironment, handle: Handle) -> ProvisionStatus:
    """Poll the status query until the workflow waits for a manual retry.

    `env.sleep` skips time on the time-skipping server, so retry backoffs cost nothing.
    """
    while True:
        status = await handle.query(ProvisionOrder.status)
        if status.waiting_for_retry:
            return status
        await env.sleep(timedelta(seconds=1))


def failed_at(status: ProvisionStatus) -> tuple[ProvisionStep, str]:
    """The step an order failed at and its error code."""
    assert status.last_error is not None
    return status.last_error.step, status.last_error.code
