"""What `FreebitClient` answers, and the checks it makes before sending anything.

The operations it is asked for are the portal's own (`contracts.sim`); what is checked here is
Freebit's view of them, so a request Freebit would refuse is refused before any call."""

from __future__ import annotations

import re
from datetime import date

from pydantic import BaseModel, ConfigDict

from contracts.sim import ContractLine, QuotaTopUp, VoiceOptionsChange

ACCOUNT_NUMBER = re.compile(r"0[0-9]{9,10}")
"""A SIM's phone number: 10 or 11 digits, starting with 0."""
MAX_QUOTA_MB = 512_000
"""Freebit's own upper bound for one top-up; the portal allows less (`contracts.sim`)."""


def check_account(account: str) -> None:
    if not ACCOUNT_NUMBER.fullmatch(account):
        raise ValueError(f"account {account!r} is not 10 or 11 digits starting with 0")


def check_top_up(top_up: QuotaTopUp) -> None:
    if not 1 <= top_up.quota_mb <= MAX_QUOTA_MB:
        raise ValueError(f"quota {top_up.quota_mb} MB is outside 1-{MAX_QUOTA_MB} MB")


def check_voice_options(change: VoiceOptionsChange) -> None:
    """None leaves an option as it is; at least one option must change."""
    if change.voice_mail is None and change.call_waiting is None:
        raise ValueError("a voice option change needs voice_mail or call_waiting")


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
