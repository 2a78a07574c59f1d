"""The demo's sample scenario, driven through the real event path: orders are approved in the
Salesforce emulator the way the Salesforce Flow does it, and the bridge takes it from there."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from rich.console import Console
from temporalio.client import Client
from temporalio.service import RPCError

from contracts.provisioning import ActivationStatus, ProvisionStatus, provision_workflow_id
from contracts.sim import NetworkTypeChange, PlanChange, sim_workflow_id
from emulators.freebit import NewSimAccount
from integrations.id_mappings import IdMappings
from starters.demo.local_vendors import LocalVendors
from starters.demo.sample_orders import SampleOrder, SampleOrderSpec, create_sample_order
from starters.sim_operations import request_sim_operation
from workflows.provision_order import ProvisionOrder
from workflows.sim_account import SimAccount

POLL_INTERVAL_SECONDS = 0.5


@dataclass
class OrderSample:
    title: str
    order: SampleOrder
    needs_fix: bool = False
    last_line: str = ""

    def activated(self, vendors: LocalVendors) -> bool:
        record = vendors.salesforce.get_record("Order", self.order.order_id)
        return bool(record.get("Activation_Status__c") == ActivationStatus.ACTIVATED)


async def approve_order_samples(
    vendors: LocalVendors, id_mappings: IdMappings
) -> list[OrderSample]:
    """A clean order and one without a payment method, approved like the Salesforce Flow does."""
    samples = [
        OrderSample(
            "clean order",
            await create_sample_order(
                vendors, id_mappings, SampleOrderSpec(activation_status=None)
            ),
        ),
        OrderSample(
            "order without a payment method",
            await create_sample_order(
                vendors,
                id_mappings,
                SampleOrderSpec(activation_status=None, has_payment_method=False),
            ),
            needs_fix=True,
        ),
    ]
    for sample in samples:
        vendors.salesforce.approve_order(sample.order.order_id)
    return samples


async def follow_until_activated(
    samples: list[OrderSample], vendors: LocalVendors, client: Client, console: Console
) -> None:
    """Print each sample's progress; fix the failing one when it waits for a retry."""
    while not all(sample.activated(vendors) for sample in samples):
        for sample in samples:
            status = await _status(client, sample)
            if status is None:
                continue  # the bridge has not started it yet
            _print_progress(sample, status, console)
            if sample.needs_fix and status.waiting_for_retry:
                _fix_and_retry(vendors, sample, console)
        await asyncio.sleep(POLL_INTERVAL_SECONDS)
    for sample in samples:
        console.print(f"  [green]{sample.title}: Activated[/]")


async def _status(client: Client, sample: OrderSample) -> ProvisionStatus | None:
    handle = client.get_workflow_handle_for(
        ProvisionOrder.run, provision_workflow_id(sample.order.order_id)
    )
    try:
        return await handle.query(ProvisionOrder.status)
    except RPCError:
        return None


def _print_progress(sample: OrderSample, status: ProvisionStatus, console: Console) -> None:
    error = status.last_error
    reason = f" ({error.code} {error.message})" if error and status.waiting_for_retry else ""
    line = f"{sample.title}: {status.activation_status or '-'}, {status.current_step or 'done'}"
    if line + reason != sample.last_line:
        console.print(f"  {line}{reason}")
        sample.last_line = line + reason


def _fix_and_retry(vendors: LocalVendors, sample: OrderSample, console: Console) -> None:
    console.print(
        f"[bold]Fixing[/] {sample.title}: adding a payment method in WHMCS, then "
        "Provision / Retry in Salesforce (which publishes a new Platform Event)"
    )
    vendors.whmcs.add_pay_method(sample.order.whmcs_client_id)
    vendors.salesforce.approve_order(sample.order.order_id)
    sample.needs_fix = False


DEMO_SIM = "08012345678"


async def request_sim_sample(client: Client, vendors: LocalVendors, task_queue: str) -> str:
    """A plan change and a 4G -> 5G change on one SIM: the second waits out Freebit's gap."""
    vendors.freebit.add_account(NewSimAccount(account=DEMO_SIM, plan_code="PASI_10GB"))
    for operation in (PlanChange(plan_code="PASI_5GB"), NetworkTypeChange(contract_line="5G")):
        await request_sim_operation(client, DEMO_SIM, operation, task_queue=task_queue)
    return DEMO_SIM


async def follow_sim_sample(account: str, client: Client, console: Console) -> None:
    """Until the plan change ran; then show what waits for the gap."""
    handle = client.get_workflow_handle_for(SimAccount.run, sim_workflow_id(account))
    while True:
        overview = await handle.query(SimAccount.overview)
        if overview.history:
            break
        await asyncio.sleep(POLL_INTERVAL_SECONDS)
    for finished in overview.history:
        console.print(f"  SIM {account}: {finished.operation.describe()} {finished.status}")
    for queued in overview.queue:
        runs_at = max(queued.not_before, overview.next_allowed_at or queued.not_before)
        console.print(
            f"  SIM {account}: {queued.operation.describe()} queued; Freebit's gap lets it run "
            f"at {runs_at:%H:%M:%S} UTC"
        )
