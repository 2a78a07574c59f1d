"""Requesting SIM operations: the one place that knows `SimAccount`'s id and start semantics.

Update-with-start: the request reaches the account's running workflow, or starts one. The
request is validated here too, so a bad one never starts a workflow.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from temporalio.client import Client, WithStartWorkflowOperation
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
)

from workflows.search_attributes import SIM_ACCOUNT
from workflows.sim_account import SimAccount
from workflows.sim_account_models import (
    OperationAccepted,
    OperationRequest,
    SimAccountInput,
    SimAccountPolicy,
    SimAccountState,
    SimOperation,
    validate_operation,
)


class SimOperationSettings(BaseSettings, SimAccountPolicy):
    """FREEBIT_OPERATION_GAP, FREEBIT_NETWORK_TYPE_DELAY, FREEBIT_MAX_ATTEMPTS and the plan
    codes customers may change to (FREEBIT_PLAN_CODES, comma-separated)."""

    model_config = SettingsConfigDict(env_prefix="FREEBIT_", extra="ignore", frozen=True)

    plan_codes: Annotated[list[str], NoDecode] = []

    @field_validator("plan_codes", mode="before")
    @classmethod
    def _comma_separated(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [code.strip() for code in value.split(",") if code.strip()]
        return value

    def policy(self) -> SimAccountPolicy:
        return SimAccountPolicy.model_validate(self.model_dump(exclude={"plan_codes"}))


def sim_workflow_id(account: str) -> str:
    return f"sim-{account}"


async def request_sim_operation(
    client: Client,
    account: str,
    operation: SimOperation,
    *,
    task_queue: str,
    settings: SimOperationSettings,
) -> OperationAccepted:
    """Queue `operation` on the account's workflow; raises InvalidSimRequestError at once."""
    validate_operation(account, operation, settings.plan_codes)
    state = SimAccountState(
        account=account, plan_codes=settings.plan_codes, policy=settings.policy()
    )
    start = WithStartWorkflowOperation(
        SimAccount.run,
        SimAccountInput(state=state),
        id=sim_workflow_id(account),
        task_queue=task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        search_attributes=TypedSearchAttributes([SearchAttributePair(SIM_ACCOUNT, account)]),
    )
    return await client.execute_update_with_start_workflow(
        SimAccount.request_operation,
        OperationRequest(operation=operation),
        start_workflow_operation=start,
    )
