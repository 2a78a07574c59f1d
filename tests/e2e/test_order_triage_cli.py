"""`portalctl order list` and the bulk `portalctl order retry --failed` against the dev server,
with real orders that failed (a missing payment method: 409; an unmapped Account: MAPPING).

The dev server is shared by the session, so every command names this test's Accounts."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import signal
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import pytest
from temporalio.testing import WorkflowEnvironment

from activities.policies import PolicyActivities
from contracts.provisioning import (
    ProvisionOutcome,
    ProvisionPolicy,
    ProvisionStatus,
    provision_workflow_id,
)
from integrations.config import DatabaseSettings
from starters.demo.local_vendors import LocalVendors
from starters.demo.sample_orders import SampleOrder, SampleOrderSpec, create_sample_order
from starters.order_listing import OrderFilter, list_orders
from starters.provisioning import request_provisioning
from tests.support.cli import invoke, start_process
from tests.support.polling import wait_until
from tests.support.provisioning import Handle
from workers.dependencies import Integrations
from workflows.provision_order import ProvisionOrder

POLICY = ProvisionPolicy(max_attempts=1, retry_initial_interval=timedelta(milliseconds=100))
ACTIVATES = SampleOrderSpec()
NO_PAYMENT_METHOD = SampleOrderSpec(has_payment_method=False)
UNMAPPED = SampleOrderSpec(account_mapped=False)

pytestmark = pytest.mark.usefixtures("dev_worker")


@pytest.fixture
def worker_policies(integrations: Integrations) -> PolicyActivities:
    return dataclasses.replace(integrations.policies, provisioning=POLICY)


@dataclasses.dataclass
class Orders:
    env: WorkflowEnvironment
    task_queue: str
    vendors: LocalVendors
    integrations: Integrations
    cli_environment: dict[str, str]
    placed: list[SampleOrder] = dataclasses.field(default_factory=list)

    async def failed(self, spec: SampleOrderSpec, count: int = 1) -> list[SampleOrder]:
        orders = [await self.provisioned(spec) for _ in range(count)]
        for order in orders:
            await wait_until(partial(self.waiting, order), f"{order.order_id} fails")
        await self.visible(len(orders), OrderFilter(failed=True, accounts=_accounts(orders)))
        return orders

    async def provisioned(self, spec: SampleOrderSpec = ACTIVATES) -> SampleOrder:
        order = await create_sample_order(self.vendors, self.integrations.id_mappings, spec)
        await request_provisioning(self.env.client, order.order_id, task_queue=self.task_queue)
        self.placed.append(order)
        return order

    async def activated(self) -> SampleOrder:
        order = await self.provisioned()
        assert (await self.handle(order).result()).outcome is ProvisionOutcome.ACTIVATED
        return order

    def handle(self, order: SampleOrder) -> Handle:
        return self.env.client.get_workflow_handle_for(
            ProvisionOrder.run, provision_workflow_id(order.order_id)
        )

    async def status(self, order: SampleOrder) -> ProvisionStatus:
        return await self.handle(order).query(ProvisionOrder.status)

    async def waiting(self, order: SampleOrder) -> bool:
        return (await self.status(order)).waiting_for_retry

    async def visible(self, count: int, order_filter: OrderFilter) -> None:
        async def listed() -> bool:
            rows = await list_orders(
                self.env.client, order_filter, limit=None, now=datetime.now(UTC)
            )
            return len(rows) == count

        await wait_until(listed, f"{count} order(s) are listed for {order_filter}")

    async def portalctl(self, *args: str) -> Any:
        return await invoke([*args, *self.account_options()], self.cli_environment)

    def account_options(self) -> list[str]:
        return [option for order in self.placed for option in ("--account", order.account_id)]


@pytest.fixture
def orders(
    dev_env: WorkflowEnvironment,
    task_queue: str,
    vendors: LocalVendors,
    integrations: Integrations,
    database: DatabaseSettings,
) -> Orders:
    environment = {
        "TEMPORAL_ADDRESS": dev_env.client.service_client.config.target_host,
        "TEMPORAL_NAMESPACE": dev_env.client.namespace,
        "DATABASE_URL": database.url,
    }
    return Orders(dev_env, task_queue, vendors, integrations, environment)


def _accounts(orders: list[SampleOrder]) -> tuple[str, ...]:
    return tuple(order.account_id for order in orders)


def _listed(output: str) -> dict[str, dict[str, Any]]:
    return {row["order_id"]: row for row in json.loads(output)}


async def test_list_filters_by_failure_code_step_and_time(orders: Orders) -> None:
    missing_payment = await orders.failed(NO_PAYMENT_METHOD, count=2)
    [unmapped] = await orders.failed(UNMAPPED)
    activated = await orders.activated()
    await orders.visible(4, OrderFilter(accounts=tuple(_accounts(orders.placed))))

    everything = await orders.portalctl("order", "list", "--json")
    failed = await orders.portalctl("order", "list", "--failed", "--json")
    by_code = await orders.portalctl("order", "list", "--code", "409", "--json")
    by_step = await orders.portalctl("order", "list", "--step", "mapping", "--json")
    recent = await orders.portalctl("order", "list", "--since", "1h", "--json")

    assert everything.exit_code == 0, everything.output
    rows = _listed(everything.stdout)
    assert set(rows) == {order.order_id for order in orders.placed}
    assert set(_listed(failed.stdout)) == {order.order_id for order in [*missing_payment, unmapped]}
    assert set(_listed(by_code.stdout)) == {order.order_id for order in missing_payment}
    assert set(_listed(by_step.stdout)) == {unmapped.order_id}
    assert set(_listed(recent.stdout)) == set(_listed(failed.stdout))
    waiting = rows[missing_payment[0].order_id]
    assert waiting["account_id"] == missing_payment[0].account_id
    assert (waiting["activation_status"], waiting["failed_step"]) == ("Failed", "payment_method")
    assert (waiting["error_code"], waiting["runs"]) == ("409", 1)
    assert waiting["failure_message"]
    assert waiting["waiting_since"]
    assert rows[unmapped.order_id]["error_code"] == "MAPPING"
    done = rows[activated.order_id]
    assert (done["activation_status"], done["workflow_status"]) == ("Activated", "completed")
    assert done["whmcs_order_id"] is not None
    assert done["error_code"] is None


async def test_list_table_shows_the_failure_of_each_order(orders: Orders) -> None:
    [order] = await orders.failed(NO_PAYMENT_METHOD)

    table = await orders.portalctl("order", "list", "--failed")

    assert table.exit_code == 0, table.output
    header, row = table.stdout.splitlines()[:2]
    assert header.split()[:4] == ["Order", "Account", "status", "failed"]
    assert row.split()[:5] == [order.order_id, order.account_id, "Failed", "payment_method", "409"]
    assert "1 order(s)" in table.stdout


async def test_list_refuses_a_filter_that_is_no_order_field(orders: Orders) -> None:
    outcome = await invoke(
        ["order", "list", "--step", "nowhere", "--code", 'x" OR 1=1'], orders.cli_environment
    )

    assert outcome.exit_code == 2
    assert "is not an error code" in outcome.output


async def test_dry_run_lists_the_orders_and_retries_none(orders: Orders) -> None:
    failed = await orders.failed(NO_PAYMENT_METHOD, count=2)

    dry_run = await orders.portalctl("order", "retry", "--failed", "--code", "409", "--dry-run")

    assert dry_run.exit_code == 0, dry_run.output
    assert all(order.order_id in dry_run.stdout for order in failed)
    assert [(await orders.status(order)).runs for order in failed] == [1, 1]


async def test_bulk_retry_answers_for_each_order(orders: Orders) -> None:
    fixed, still_missing = await orders.failed(NO_PAYMENT_METHOD, count=2)
    orders.vendors.whmcs.add_pay_method(fixed.whmcs_client_id)

    outcome = await orders.portalctl("order", "retry", "--failed", "--rate", "50/s")

    assert outcome.exit_code == 0, outcome.output
    assert f"{fixed.order_id}  accepted: Retry accepted: resuming at payment_method" in (
        outcome.stdout
    )
    assert f"{still_missing.order_id}  accepted" in outcome.stdout
    assert "2 accepted, 0 already retried" in outcome.stdout
    assert (await orders.handle(fixed).result()).outcome is ProvisionOutcome.ACTIVATED
    await wait_until(lambda: orders.waiting(still_missing), "the unfixed order fails again")
    assert (await orders.status(still_missing)).runs == 2


async def test_bulk_retry_killed_and_run_again_retries_each_order_once(orders: Orders) -> None:
    """The orders fail again right after their retry, so they are Failed and waiting again
    when the second run lists them: only the batch's event id keeps it from retrying them."""
    failed = await orders.failed(NO_PAYMENT_METHOD, count=6)
    command = ["order", "retry", "--failed", "--rate", "2/s", *orders.account_options()]

    first = await start_process(command, orders.cli_environment)
    await _read_until_accepted(first, count=2)
    first.send_signal(signal.SIGKILL)
    await first.wait()
    retried_before_the_kill = [(await orders.status(order)).runs for order in failed].count(2)
    second = await start_process(command, orders.cli_environment)
    output, _ = await asyncio.wait_for(second.communicate(), timeout=60)

    assert second.returncode == 0, output.decode()
    assert retried_before_the_kill < len(failed)
    assert "Continuing bulk retry" in output.decode()
    for order in failed:
        await wait_until(partial(orders.waiting, order), "each order fails again")
    assert [(await orders.status(order)).runs for order in failed] == [2] * len(failed)


async def _read_until_accepted(process: asyncio.subprocess.Process, *, count: int) -> None:
    assert process.stdout is not None
    accepted = 0
    while accepted < count:
        line = await asyncio.wait_for(process.stdout.readline(), timeout=30)
        assert line, "portalctl ended before retrying"
        accepted += b"  accepted:" in line


async def test_missing_mapping_is_added_and_the_order_retried(orders: Orders) -> None:
    """The runbook's fix for code MAPPING, without hand-written SQL."""
    [order] = await orders.failed(UNMAPPED)

    added = await invoke(
        [
            "mappings",
            "add",
            "--account",
            order.account_id,
            "--client",
            str(order.whmcs_client_id),
            "--user-id",
            "portal-user-of-the-test",
        ],
        orders.cli_environment,
    )
    retried = await invoke(["order", "retry", order.order_id], orders.cli_environment)

    assert added.exit_code == 0, added.output
    assert retried.stdout.strip() == "Retry accepted: resuming at mapping"
    assert (await orders.handle(order).result()).outcome is ProvisionOutcome.ACTIVATED
