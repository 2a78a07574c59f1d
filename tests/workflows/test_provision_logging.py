"""The operator's log: the seed's messages and step names verbatim, and no secrets."""

from __future__ import annotations

import io
import json

import pytest
from temporalio.testing import WorkflowEnvironment

from contracts.provisioning import ProvisionStep
from starters.demo.local_vendors import LocalVendors
from starters.demo.sample_orders import SampleOrderSpec, create_sample_order
from starters.provisioning import request_provisioning
from workers.dependencies import Integrations

pytestmark = pytest.mark.usefixtures("worker")


def events_of(buffer: io.StringIO, order_id: str) -> list[str]:
    records = [json.loads(line) for line in buffer.getvalue().splitlines()]
    return [str(record["event"]) for record in records if record.get("order_id") == order_id]


async def test_steps_are_logged_in_order_with_the_seed_messages(
    env: WorkflowEnvironment,
    task_queue: str,
    vendors: LocalVendors,
    integrations: Integrations,
    json_log: io.StringIO,
) -> None:
    order = await create_sample_order(vendors, integrations.id_mappings)
    handle = await request_provisioning(env.client, order.order_id, task_queue=task_queue)
    await handle.result()

    assert events_of(json_log, order.order_id) == [
        "Starting fulfillment orchestration",
        *[step.value for step in ProvisionStep],
        "Provisioning activated",
    ]


async def test_failure_is_logged_and_no_secret_reaches_the_log(
    env: WorkflowEnvironment,
    task_queue: str,
    vendors: LocalVendors,
    integrations: Integrations,
    json_log: io.StringIO,
) -> None:
    order = await create_sample_order(
        vendors, integrations.id_mappings, SampleOrderSpec(has_payment_method=False)
    )
    handle = await request_provisioning(env.client, order.order_id, task_queue=task_queue)
    while "Order marked Failed" not in events_of(json_log, order.order_id):
        await env.sleep(1)
    await handle.terminate("test finished")

    text = json_log.getvalue()
    whmcs = vendors.whmcs_settings
    assert vendors.salesforce_settings.private_key_path is not None
    key_line = vendors.salesforce_settings.private_key_path.read_text().splitlines()[1]
    for secret in (whmcs.api_secret.get_secret_value(), key_line):
        assert secret not in text
