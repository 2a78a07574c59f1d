"""What callers pass to and get from `FreebitClient`, validated before anything is sent."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

ContractLine = Literal["4G", "5G"]
AccountNumber = Annotated[str, StringConstraints(pattern=r"^0\d{9,10}$")]
"""A SIM's phone number: 10 or 11 digits, starting with 0."""
MAX_QUOTA_MB = 512_000


class _Request(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    account: AccountNumber


class AccountQuery(_Request):
    pass


class QuotaTopUp(_Request):
    quota_mb: int = Field(ge=1, le=MAX_QUOTA_MB)
    expire: date | None = None


class PlanChange(_Request):
    plan_code: str = Field(min_length=1)
    run_time: date | None = Field(default=None, description="scheduled day; None means now")


class VoiceOptionChange(_Request):
    """None leaves an option as it is; at least one option must change."""

    voice_mail: bool | None = None
    call_waiting: bool | None = None

    @model_validator(mode="after")
    def _changes_something(self) -> VoiceOptionChange:
        if self.voice_mail is None and self.call_waiting is None:
            raise ValueError("a voice option change needs voice_mail or call_waiting")
        return self


class NetworkTypeChange(_Request):
    contract_line: ContractLine


class Cancellation(_Request):
    run_date: date | None = Field(default=None, description="cancellation day; None means now")


class _Answer(BaseModel):
    model_config = ConfigDict(frozen=True)


class AccountDetail(_Answer):
    account: str
    state: str
    plan_code: str
    contract_line: ContractLine
    voice_mail: bool
    call_waiting: bool
    remaining_quota_mb: int
    next_plan_code: str | None = None
    plan_change_date: date | None = None
    cancel_date: date | None = None

    @property
    def cancellation_requested(self) -> bool:
        return self.cancel_date is not None


class TrafficInfo(_Answer):
    account: str
    today_used_mb: int
    recent_days_used_mb: int
    remaining_quota_mb: int
