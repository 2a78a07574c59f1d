"""The worker's gauges of orders waiting for a manual retry come from Temporal's visibility: an
order that fails (no WHMCS payment method) counts once it is marked Failed, and the age of the
oldest waiting order covers it. Namespace-wide, so compared with the count before."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from prometheus_client.parser import text_string_to_metric_families
from temporalio.testing import WorkflowEnvironment

from integrations.workflow_gauges import WorkflowGauges
from starters.demo.local_vendors import LocalVendors
from starters.demo.sample_orders import SampleOrderSpec, create_sample_order
from starters.provisioning import request_provisioning
from tests.support.polling import wait_until
from workers.dependencies import Integrations
from workflows.provision_order import ProvisionOrder

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("dev_worker")]


async def gauges(env: WorkflowEnvironment) -> dict[str, float]:
    exposition = await WorkflowGauges(env.client).exposition(datetime.now(UTC))
    return {
        sample.name: sample.value
        for family in text_string_to_metric_families(exposition.decode())
        for sample in family.samples
    }


async def test_a_failed_order_waiting_for_its_retry_is_counted_with_its_age(
    dev_env: WorkflowEnvironment,
    task_queue: str,
    vendors: LocalVendors,
    integrations: Integrations,
) -> None:
    before = await gauges(dev_env)
    order = await create_sample_order(
        vendors, integrations.id_mappings, SampleOrderSpec(has_payment_method=False)
    )
    started = datetime.now(UTC)
    handle = await request_provisioning(dev_env.client, order.order_id, task_queue=task_queue)

    async def waiting() -> bool:
        return (await handle.query(ProvisionOrder.status)).waiting_for_retry

    async def counted() -> bool:
        now = await gauges(dev_env)
        return now["portal_orders_failed_waiting"] == before["portal_orders_failed_waiting"] + 1

    await wait_until(waiting, "the order waits for a manual retry")
    await wait_until(counted, "visibility counts it")
    after = await gauges(dev_env)

    assert (
        after["portal_orders_failed_waiting_oldest_age_seconds"]
        >= (datetime.now(UTC) - started).total_seconds() - 1
    )
    await handle.terminate("test over")
