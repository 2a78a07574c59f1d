"""The SIM accounts and the rules that make Freebit slow to change them.

- A 4G/5G change locks the account for `contract_line_lock`: every request on it, read or
  write, is refused meanwhile.
- After each accepted write the account refuses further writes for `operation_gap`.
Both refusals are the same "locked" answer, so a client that keeps its own gap never sees
one. Every accepted write is logged with the clock time it was accepted at.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from datetime import date, datetime
from typing import Any

from emulators.freebit.clock import japan_date
from emulators.freebit.records import (
    FreebitTiming,
    NewSimAccount,
    OperationRecord,
    SimAccountRecord,
)
from emulators.freebit.refusals import (
    account_locked,
    account_not_found,
    cancellation_already_requested,
)

Change = Callable[[SimAccountRecord], None]


class SimAccounts:
    def __init__(self, timing: FreebitTiming, plan_codes: Iterable[str]) -> None:
        self._timing = timing
        self._plan_codes = frozenset(plan_codes)
        self._accounts: dict[str, SimAccountRecord] = {}
        self._operations: list[OperationRecord] = []
        self._lock = threading.Lock()

    def set_timing(self, timing: FreebitTiming) -> None:
        with self._lock:
            self._timing = timing

    def set_plan_codes(self, plan_codes: Iterable[str]) -> None:
        with self._lock:
            self._plan_codes = frozenset(plan_codes)

    def is_known_plan_code(self, plan_code: str) -> bool:
        with self._lock:
            return plan_code in self._plan_codes

    def add(self, new_account: NewSimAccount) -> SimAccountRecord:
        """Create the account, or replace the one with the same number."""
        record = SimAccountRecord(**new_account.model_dump())
        with self._lock:
            self._accounts[record.account] = record
            return record.model_copy()

    def snapshot(self, account: str, now: datetime) -> SimAccountRecord:
        """The account as stored, locked or not (for the control API)."""
        with self._lock:
            return self._settled(account, now).model_copy()

    def read(self, account: str, now: datetime) -> SimAccountRecord:
        with self._lock:
            record = self._settled(account, now)
            _refuse_if_locked(record, now)
            return record.model_copy()

    def write(
        self,
        account: str,
        operation: str,
        request: dict[str, Any],
        now: datetime,
        change: Change,
        *,
        locks_account: bool = False,
    ) -> SimAccountRecord:
        """Apply `change` unless the account is locked, inside its gap or being cancelled."""
        with self._lock:
            record = self._settled(account, now)
            _refuse_if_locked(record, now)
            _refuse_inside_gap(record, now)
            if record.cancel_on is not None:
                raise cancellation_already_requested(account)
            change(record)
            record.next_write_at = now + self._timing.operation_gap
            if locks_account:
                record.locked_until = now + self._timing.contract_line_lock
            self._operations.append(
                OperationRecord(account=account, operation=operation, at=now, request=request)
            )
            return record.model_copy()

    def operations(self, account: str | None = None) -> list[OperationRecord]:
        """Accepted writes, oldest first."""
        with self._lock:
            return [op.model_copy() for op in self._operations if account in (None, op.account)]

    def _settled(self, account: str, now: datetime) -> SimAccountRecord:
        """The account with a scheduled plan change applied once its day has come."""
        record = self._accounts.get(account)
        if record is None:
            raise account_not_found(account)
        if record.plan_change_on is not None and record.plan_change_on <= japan_date(now):
            record.plan_code = record.scheduled_plan_code or record.plan_code
            record.scheduled_plan_code = record.plan_change_on = None
        return record


def is_cancelled_by(record: SimAccountRecord, today: date) -> bool:
    return record.cancel_on is not None and record.cancel_on <= today


def _refuse_if_locked(record: SimAccountRecord, now: datetime) -> None:
    if record.locked_until is not None and now < record.locked_until:
        raise account_locked(record.account, "contract line change", record.locked_until)


def _refuse_inside_gap(record: SimAccountRecord, now: datetime) -> None:
    if record.next_write_at is not None and now < record.next_write_at:
        raise account_locked(record.account, "operation gap", record.next_write_at)
