"""Requesting SIM operations: the one place that knows `SimAccount`'s id and start semantics.

Update-with-start: the request reaches the account's running workflow, or starts one. The
request is validated here too, so a malformed one never starts a workflow; the timing rules
and plan codes (FREEBIT_*) are the worker's settings.
"""

from __future__ import annotations

from temporalio.client import Client, WithStartWorkflowOperation
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
)

from contracts.sim import (
    OperationAccepted,
    OperationRequest,
    SimAccountInput,
    SimAccountState,
    SimOperation,
    sim_workflow_id,
    validate_request,
)
from workflows.search_attributes import SIM_ACCOUNT
from workflows.sim_account import SimAccount


async def request_sim_operation(
    client: Client,
    account: str,
    operation: SimOperation,
    *,
    task_queue: str,
) -> OperationAccepted:
    """Queue `operation` on the account's workflow; raises InvalidSimRequestError at once for
    what needs no setting, and WorkflowUpdateFailedError when the worker refuses it (an
    unknown plan code: FREEBIT_PLAN_CODES is the worker's setting)."""
    validate_request(account, operation)
    state = SimAccountState(account=account)
    start = WithStartWorkflowOperation(
        SimAccount.run,
        SimAccountInput(state=state),
        id=sim_workflow_id(account),
        task_queue=task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        search_attributes=TypedSearchAttributes([SearchAttributePair(SIM_ACCOUNT, account)]),
        static_summary=f"SIM {account}: Freebit operations, one at a time, with the gap between",
    )
    return await client.execute_update_with_start_workflow(
        SimAccount.request_operation,
        OperationRequest(operation=operation),
        start_workflow_operation=start,
    )
