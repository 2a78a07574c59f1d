"""Starting `ProvisionOrder`: the one place that knows its id and start semantics.

Signal-with-start with USE_EXISTING: a duplicate or replayed request never makes a second
workflow; for a Failed workflow that waits, the signal is a manual retry. How an order is
retried (PROVISION_*) is the worker's setting, not the starter's.

A closed run is started again (the default, ALLOW_DUPLICATE: a new approval after the last
run ended); a caller that saw no closed run passes REJECT_DUPLICATE, so that a run closing
meanwhile makes Temporal refuse the start (`WorkflowAlreadyStartedError`) rather than start a
second run.
"""

from __future__ import annotations

from temporalio.client import Client, WorkflowHandle
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)

from contracts.provisioning import (
    ProvisionOrderInput,
    ProvisionOrderResult,
    RetryRequest,
    provision_workflow_id,
)
from integrations.salesforce.models import is_record_id
from workflows.provision_order import ProvisionOrder
from workflows.search_attributes import ORDER_ID


class InvalidOrderIdError(ValueError):
    def __init__(self, order_id: str) -> None:
        super().__init__(f"{order_id!r} is not a Salesforce Order Id (15 or 18 letters/digits)")


async def request_provisioning(
    client: Client,
    order_id: str,
    *,
    task_queue: str,
    event_id: str | None = None,
    idem_key: str | None = None,
    id_reuse_policy: WorkflowIDReusePolicy = WorkflowIDReusePolicy.ALLOW_DUPLICATE,
) -> WorkflowHandle[ProvisionOrder, ProvisionOrderResult]:
    if not is_record_id(order_id):
        raise InvalidOrderIdError(order_id)
    return await client.start_workflow(
        ProvisionOrder.run,
        ProvisionOrderInput(order_id=order_id, idem_key=idem_key, event_id=event_id),
        id=provision_workflow_id(order_id),
        task_queue=task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        id_reuse_policy=id_reuse_policy,
        start_signal="retry",
        start_signal_args=[RetryRequest(event_id=event_id, reason="provisioning requested")],
        search_attributes=TypedSearchAttributes([SearchAttributePair(ORDER_ID, order_id)]),
        static_summary=f"provision Salesforce Order {order_id} into WHMCS",
        static_details=(
            f"Status: `portalctl order status {order_id}`. Once what failed is fixed: "
            f"`portalctl order retry {order_id}`, or Provision / Retry in Salesforce. What each "
            "failure means and how to fix it: docs/runbook-provisioning.md."
        ),
    )
