"""Orders as a list: one visibility query over `ProvisionOrder` runs, read from their search
attributes and memo (never a query or describe per order), and the filters that build it."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from pydantic import BaseModel
from temporalio.client import Client, WorkflowExecution, WorkflowExecutionStatus

from contracts.provisioning import ORDER_MEMO, ActivationStatus, OrderMemo, ProvisionStep
from integrations.salesforce.models import is_record_id
from workflows.provision_order import ProvisionOrder
from workflows.search_attributes import (
    ACTIVATION_STATUS,
    ERROR_CODE,
    FAILED_AT,
    FAILED_STEP,
    ORDER_ID,
    SALESFORCE_ACCOUNT_ID,
    WHMCS_ORDER_ID,
)

_ERROR_CODE = re.compile(r"[A-Za-z0-9_.-]{1,80}")
_WORKFLOW_TYPE = ProvisionOrder.__name__


class InvalidFilterError(ValueError):
    """A filter value that cannot be an order's (it never reaches the visibility query)."""


@dataclass(frozen=True)
class OrderFilter:
    """Which orders: each given filter narrows the list; `--code`, `--step` and `--since`
    are about the failure, so they imply `failed`."""

    failed: bool = False
    code: str | None = None
    step: str | None = None
    since: timedelta | None = None
    accounts: Sequence[str] = field(default_factory=tuple)
    running_only: bool = False
    """Only orders whose workflow still runs (a Failed one waits for a manual retry)."""

    def __post_init__(self) -> None:
        if self.code is not None and not _ERROR_CODE.fullmatch(self.code):
            raise InvalidFilterError(f"--code {self.code!r} is not an error code")
        if self.step is not None and self.step not in set(ProvisionStep):
            steps = ", ".join(ProvisionStep)
            raise InvalidFilterError(f"--step {self.step!r} is not a step: one of {steps}")
        if self.since is not None and self.since <= timedelta(0):
            raise InvalidFilterError("--since must be a positive duration, e.g. 2h")
        for account in self.accounts:
            if not is_record_id(account):
                raise InvalidFilterError(f"--account {account!r} is not a Salesforce Account Id")

    @property
    def about_failure(self) -> bool:
        return self.failed or any(value is not None for value in (self.code, self.step, self.since))

    def selection(self) -> str:
        """The filters as a stable text: the same command line gives the same text."""
        since = None if self.since is None else self.since.total_seconds()
        return (
            f"failed={self.about_failure} code={self.code} step={self.step} since={since} "
            f"accounts={','.join(sorted(self.accounts))} running_only={self.running_only}"
        )

    def query(self, now: datetime) -> str:
        """The visibility query; `--since` counts back from `now`."""
        clauses = [f'WorkflowType = "{_WORKFLOW_TYPE}"']
        if self.running_only:
            clauses.append('ExecutionStatus = "Running"')
        if self.about_failure:
            clauses.append(f'{ACTIVATION_STATUS.name} = "{ActivationStatus.FAILED}"')
        if self.code is not None:
            clauses.append(f'{ERROR_CODE.name} = "{self.code}"')
        if self.step is not None:
            clauses.append(f'{FAILED_STEP.name} = "{self.step}"')
        if self.since is not None:
            cutoff = (now - self.since).astimezone(UTC).isoformat().replace("+00:00", "Z")
            clauses.append(f'{FAILED_AT.name} >= "{cutoff}"')
        if self.accounts:
            accounts = ", ".join(f'"{account}"' for account in self.accounts)
            clauses.append(f"{SALESFORCE_ACCOUNT_ID.name} IN ({accounts})")
        return " AND ".join(clauses)


class OrderRow(BaseModel):
    """One order as the list shows it."""

    order_id: str
    account_id: str | None
    activation_status: str | None
    workflow_status: str
    failed_step: str | None
    error_code: str | None
    failure_message: str | None
    waiting_since: datetime | None
    runs: int | None
    whmcs_order_id: str | None
    summary: str | None


async def list_orders(
    client: Client, order_filter: OrderFilter, *, limit: int | None, now: datetime
) -> list[OrderRow]:
    """The newest run of each matching order, newest first; at most `limit` runs are read."""
    rows: dict[str, OrderRow] = {}
    async for execution in client.list_workflows(order_filter.query(now), limit=limit):
        if execution.id not in rows:
            rows[execution.id] = await _row_of(execution)
    return list(rows.values())


async def _row_of(execution: WorkflowExecution) -> OrderRow:
    attributes = execution.typed_search_attributes
    memo: OrderMemo | None = await execution.memo_value(ORDER_MEMO, None, type_hint=OrderMemo)
    status = execution.status or WorkflowExecutionStatus.RUNNING
    return OrderRow(
        order_id=attributes.get(ORDER_ID) or execution.id.removeprefix("provision-"),
        account_id=attributes.get(SALESFORCE_ACCOUNT_ID),
        activation_status=attributes.get(ACTIVATION_STATUS),
        workflow_status=status.name.lower().replace("_", " "),
        failed_step=attributes.get(FAILED_STEP),
        error_code=attributes.get(ERROR_CODE),
        failure_message=memo.failure_message if memo else None,
        waiting_since=attributes.get(FAILED_AT),
        runs=memo.runs if memo else None,
        whmcs_order_id=attributes.get(WHMCS_ORDER_ID),
        summary=memo.summary if memo else None,
    )
