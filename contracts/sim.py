"""`SimAccount`: the Freebit operations a SIM can be asked for, their validation, the state
handed from run to run by continue-as-new, and one activity per operation."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, Field

from contracts.activity_type import ActivityType
from contracts.durations import Duration

ACCOUNT_PATTERN = re.compile(r"0\d{9,10}")
"""A Japanese phone number: 10 or 11 digits starting with 0 (e.g. 08012345678)."""
QUOTA_MB_RANGE = (100, 51_200)
"""What the portal lets a customer add in one top-up."""
HISTORY_KEPT = 50

ContractLine = Literal["4G", "5G"]


def sim_workflow_id(account: str) -> str:
    return f"sim-{account}"


class PlanChange(BaseModel):
    kind: Literal["plan_change"] = "plan_change"
    plan_code: str = Field(min_length=1)
    run_time: date | None = Field(default=None, description="Freebit applies it on that day")

    def describe(self) -> str:
        when = f" on {self.run_time}" if self.run_time else ""
        return f"plan change to {self.plan_code}{when}"


class QuotaTopUp(BaseModel):
    kind: Literal["top_up"] = "top_up"
    quota_mb: int = Field(ge=1)
    expire: date | None = None

    def describe(self) -> str:
        return f"top-up of {self.quota_mb} MB"


class NetworkTypeChange(BaseModel):
    kind: Literal["network_type"] = "network_type"
    contract_line: ContractLine

    def describe(self) -> str:
        return f"network type change to {self.contract_line}"


class VoiceOptionsChange(BaseModel):
    """None leaves an option as it is."""

    kind: Literal["voice_options"] = "voice_options"
    voice_mail: bool | None = None
    call_waiting: bool | None = None

    def describe(self) -> str:
        changes = [
            f"{name} {'on' if value else 'off'}"
            for name, value in (
                ("voice mail", self.voice_mail),
                ("call waiting", self.call_waiting),
            )
            if value is not None
        ]
        return "voice options: " + ", ".join(changes)


class Cancellation(BaseModel):
    kind: Literal["cancellation"] = "cancellation"
    run_date: date | None = Field(default=None, description="cancellation day; None means now")

    def describe(self) -> str:
        return "cancellation" + (f" on {self.run_date}" if self.run_date else "")


SimOperation = Annotated[
    PlanChange | QuotaTopUp | NetworkTypeChange | VoiceOptionsChange | Cancellation,
    Field(discriminator="kind"),
]


class InvalidSimRequestError(ValueError):
    """The request can never succeed; the message names what is wrong."""


def validate_account(account: str) -> None:
    if not ACCOUNT_PATTERN.fullmatch(account):
        raise InvalidSimRequestError(f"account {account!r} is not a 10 or 11 digit phone number")


def validate_request(account: str, operation: SimOperation) -> None:
    """Raise InvalidSimRequestError for a request Freebit or the portal would refuse anyway.

    Plan codes are the worker's setting (FREEBIT_PLAN_CODES): see `validate_plan_code`."""
    validate_account(account)
    match operation:
        case QuotaTopUp(quota_mb=quota) if not QUOTA_MB_RANGE[0] <= quota <= QUOTA_MB_RANGE[1]:
            low, high = QUOTA_MB_RANGE
            raise InvalidSimRequestError(f"quota {quota} MB is outside {low}-{high} MB")
        case VoiceOptionsChange(voice_mail=None, call_waiting=None):
            raise InvalidSimRequestError(
                "a voice option change must set voice mail or call waiting"
            )


def validate_plan_code(operation: SimOperation, plan_codes: list[str]) -> None:
    if isinstance(operation, PlanChange) and operation.plan_code not in plan_codes:
        raise InvalidSimRequestError(
            f"unknown plan code {operation.plan_code!r} (FREEBIT_PLAN_CODES: "
            f"{', '.join(plan_codes)})"
        )


class OperationStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


class QueuedOperation(BaseModel):
    op_id: str
    operation: SimOperation
    requested_at: datetime
    not_before: datetime
    status: OperationStatus = OperationStatus.QUEUED
    started_at: datetime | None = None
    finished_at: datetime | None = None
    error: str | None = None


class SimAccountPolicy(BaseModel):
    """The worker's FREEBIT_* SIM rules, read once when a SIM's workflow starts and carried
    through continue-as-new."""

    plan_codes: list[str]
    operation_gap: Duration = timedelta(minutes=30)
    network_type_delay: Duration = timedelta(minutes=30)
    max_attempts: int = Field(default=3, ge=1)
    history_events_limit: int = Field(
        default=2_000, ge=10, description="continue as new beyond this many history events"
    )


class SimAccountState(BaseModel):
    """Everything the workflow knows; carried whole into the next run by continue-as-new."""

    account: str
    policy: SimAccountPolicy | None = None
    """None until the first run has read the worker's policy."""
    queue: list[QueuedOperation] = Field(default_factory=list)
    running: QueuedOperation | None = None
    history: list[QueuedOperation] = Field(default_factory=list)
    last_operation_at: datetime | None = None


class SimAccountInput(BaseModel):
    state: SimAccountState


class SimAccountResult(BaseModel):
    account: str
    operations_run: int


class OperationRequest(BaseModel):
    operation: SimOperation


class OperationAccepted(BaseModel):
    op_id: str
    earliest_start: datetime


class CancelOperationRequest(BaseModel):
    op_id: str


class CancelOperationAnswer(BaseModel):
    cancelled: bool
    message: str


class SimAccountOverview(BaseModel):
    """What the `overview` query answers."""

    account: str
    running: QueuedOperation | None
    queue: list[QueuedOperation]
    history: list[QueuedOperation]
    next_allowed_at: datetime | None


class _OperationCall(BaseModel):
    """One Freebit operation of one SIM; `op_id` makes it run at most once."""

    op_id: str
    account: str


class PlanChangeCall(_OperationCall):
    operation: PlanChange


class TopUpCall(_OperationCall):
    operation: QuotaTopUp


class NetworkTypeCall(_OperationCall):
    operation: NetworkTypeChange


class VoiceOptionsCall(_OperationCall):
    operation: VoiceOptionsChange


class CancellationCall(_OperationCall):
    operation: Cancellation


SIM_POLICY = ActivityType("sim_account_policy", type(None), SimAccountPolicy)
"""Local: the worker's FREEBIT_* SIM settings, recorded in history when a SIM's run starts."""
CHANGE_PLAN = ActivityType("change_plan", PlanChangeCall, type(None))
ADD_QUOTA = ActivityType("add_quota", TopUpCall, type(None))
CHANGE_NETWORK_TYPE = ActivityType("change_network_type", NetworkTypeCall, type(None))
CHANGE_VOICE_OPTIONS = ActivityType("change_voice_options", VoiceOptionsCall, type(None))
CANCEL_ACCOUNT = ActivityType("cancel_account", CancellationCall, type(None))
