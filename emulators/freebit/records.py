"""What the Freebit emulator stores, and the shapes its control API accepts and reports."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, Field

ContractLine = Literal["4G", "5G"]


class OemCredentials(BaseModel):
    oem_id: str = "PASI"
    oem_keys: list[str] = Field(
        default=["emulator-oem-key"], min_length=1, description="two during a key rotation"
    )


class FreebitTiming(BaseModel):
    """Durations of the emulator's rules; a control update may give only some of them."""

    auth_key_ttl: timedelta = timedelta(minutes=60)
    contract_line_lock: timedelta = Field(
        default=timedelta(minutes=30), description="how long a 4G/5G change locks the account"
    )
    operation_gap: timedelta = Field(
        default=timedelta(minutes=30), description="minimum time after a write before the next"
    )


class TimingUpdate(BaseModel):
    auth_key_ttl: timedelta | None = None
    contract_line_lock: timedelta | None = None
    operation_gap: timedelta | None = None


class FreebitBehaviour(BaseModel):
    """What Freebit does that no spec states, and so the client has a setting for (the
    FREEBIT_* assumptions): tests switch to the alternatives the client must survive."""

    login_invalidates_older_keys: bool = Field(
        default=False, description="an authOem login makes every authKey issued before invalid"
    )
    auth_key_rejected_code: str = Field(
        default="211", pattern=r"^[0-9]+$", description="resultCode of an expired/unknown authKey"
    )
    account_locked_code: str = Field(
        default="240", pattern=r"^[0-9]+$", description="resultCode of a locked or busy account"
    )


class BehaviourUpdate(BaseModel):
    login_invalidates_older_keys: bool | None = None
    auth_key_rejected_code: str | None = Field(default=None, pattern=r"^[0-9]+$")
    account_locked_code: str | None = Field(default=None, pattern=r"^[0-9]+$")


class NewSimAccount(BaseModel):
    account: str = Field(pattern=r"^\d{10,11}$", description="the SIM's phone number")
    plan_code: str = "PASI_10GB"
    contract_line: ContractLine = "4G"
    voice_mail: bool = False
    call_waiting: bool = False
    remaining_quota_mb: int = Field(default=10_240, ge=0)
    today_used_mb: int = Field(default=0, ge=0)
    recent_days_used_mb: int = Field(default=0, ge=0)


class SimAccountRecord(NewSimAccount):
    scheduled_plan_code: str | None = None
    plan_change_on: date | None = None
    cancel_on: date | None = None
    locked_until: datetime | None = Field(default=None, description="end of a contract line change")
    next_write_at: datetime | None = Field(
        default=None, description="end of the operation gap after the last write"
    )


class OperationRecord(BaseModel):
    """A write the emulator accepted, at the emulator's clock time."""

    account: str
    operation: str
    at: datetime
    request: dict[str, Any] = Field(description="the request's json without the authKey")


class RecordedRequest(BaseModel):
    """One API request as it arrived, whatever the answer was."""

    operation: str
    path: str
    form_fields: list[str]
    body: dict[str, Any] | None = Field(description="the decoded `json` field, when valid")
    received_at: datetime
