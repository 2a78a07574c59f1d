"""Models of the `SimAccount` entity workflow: the operations a SIM can be asked for, their
validation, and the one state model handed from run to run by continue-as-new."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, Field

from integrations.config import Duration

ACCOUNT_PATTERN = re.compile(r"0\d{9,10}")
"""A Japanese phone number: 10 or 11 digits starting with 0 (e.g. 08012345678)."""
QUOTA_MB_RANGE = (100, 51_200)
"""What the portal lets a customer add in one top-up."""
HISTORY_KEPT = 50


class PlanChange(BaseModel):
    kind: Literal["plan_change"] = "plan_change"
    plan_code: str
    run_time: date | None = Field(default=None, description="Freebit applies it on that day")

    def describe(self) -> str:
        when = f" on {self.run_time}" if self.run_time else ""
        return f"plan change to {self.plan_code}{when}"


class QuotaTopUp(BaseModel):
    kind: Literal["top_up"] = "top_up"
    quota_mb: int
    expire: date | None = None

    def describe(self) -> str:
        return f"top-up of {self.quota_mb} MB"


class NetworkTypeChange(BaseModel):
    kind: Literal["network_type"] = "network_type"
    contract_line: str

    def describe(self) -> str:
        return f"network type change to {self.contract_line}"


class VoiceOptionsChange(BaseModel):
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
    run_date: date | None = None

    def describe(self) -> str:
        return "cancellation" + (f" on {self.run_date}" if self.run_date else "")


SimOperation = Annotated[
    PlanChange | QuotaTopUp | NetworkTypeChange | VoiceOptionsChange | Cancellation,
    Field(discriminator="kind"),
]


class InvalidSimRequestError(ValueError):
    """The request can never succeed; the message names what is wrong."""


def validate_operation(account: str, operation: SimOperation, plan_codes: list[str]) -> None:
    """Raise InvalidSimRequestError for a request Freebit would refuse anyway."""
    if not ACCOUNT_PATTERN.fullmatch(account):
        raise InvalidSimRequestError(f"account {account!r} is not a 10 or 11 digit phone number")
    match operation:
        case PlanChange(plan_code=code) if code not in plan_codes:
            raise InvalidSimRequestError(f"unknown plan code {code!r}")
        case QuotaTopUp(quota_mb=quota) if not QUOTA_MB_RANGE[0] <= quota <= QUOTA_MB_RANGE[1]:
            low, high = QUOTA_MB_RANGE
            raise InvalidSimRequestError(f"quota {quota} MB is outside {low}-{high} MB")
        case NetworkTypeChange(contract_line=line) if line not in ("4G", "5G"):
            raise InvalidSimRequestError(f"network type {line!r} is not 4G or 5G")
        case VoiceOptionsChange(voice_mail=None, call_waiting=None):
            raise InvalidSimRequestError(
                "a voice option change must set voice mail or call waiting"
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
    """Timing rules, read from FREEBIT_* settings by whoever starts the workflow."""

    operation_gap: Duration = timedelta(minutes=30)
    network_type_delay: Duration = timedelta(minutes=30)
    max_attempts: int = Field(default=3, ge=1)
    history_events_limit: int = Field(
        default=2_000, ge=10, description="continue as new beyond this many history events"
    )


class SimAccountState(BaseModel):
    """Everything the workflow knows; carried whole into the next run by continue-as-new."""

    account: str
    plan_codes: list[str]
    policy: SimAccountPolicy = SimAccountPolicy()
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
