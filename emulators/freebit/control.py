"""Typed client for the Freebit emulator's control API."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, TypeAdapter

from emulators.control_client import EmulatorControl
from emulators.freebit.records import (
    BehaviourUpdate,
    FreebitBehaviour,
    FreebitTiming,
    NewSimAccount,
    OemCredentials,
    OperationRecord,
    RecordedRequest,
    SimAccountRecord,
    TimingUpdate,
)

_OPERATIONS = TypeAdapter(list[OperationRecord])
_REQUESTS = TypeAdapter(list[RecordedRequest])


class FreebitEmulatorControl(EmulatorControl):
    def add_account(self, account: NewSimAccount) -> SimAccountRecord:
        """Create a SIM account, or replace the one with the same number."""
        return SimAccountRecord.model_validate(
            self.post("/accounts", account.model_dump(mode="json"))
        )

    def account(self, account: str) -> SimAccountRecord:
        return SimAccountRecord.model_validate(self.get(f"/accounts/{account}"))

    def set_oem_credentials(self, oem_id: str, *oem_keys: str) -> None:
        """Replace the accepted credentials; pass two keys to overlap old and new in a rotation."""
        payload = OemCredentials(oem_id=oem_id, oem_keys=list(oem_keys)).model_dump()
        self._http.put("/oem-credentials", json=payload).raise_for_status()

    def expire_auth_keys(self) -> None:
        """Every authKey issued so far becomes invalid now."""
        self.post("/auth-keys/expire")

    def set_timing(
        self,
        *,
        auth_key_ttl: timedelta | None = None,
        contract_line_lock: timedelta | None = None,
        operation_gap: timedelta | None = None,
    ) -> FreebitTiming:
        """Change the given durations, keep the others; answers the timing now in force."""
        update = TimingUpdate(
            auth_key_ttl=auth_key_ttl,
            contract_line_lock=contract_line_lock,
            operation_gap=operation_gap,
        )
        return FreebitTiming.model_validate(self._patch("/timing", update))

    def set_behaviour(
        self,
        *,
        login_invalidates_older_keys: bool | None = None,
        auth_key_rejected_code: str | None = None,
        account_locked_code: str | None = None,
    ) -> FreebitBehaviour:
        """Change the given behaviours (what no Freebit spec states), keep the others; answers
        the behaviour now in force. A reset returns to the emulator's initial behaviour."""
        update = BehaviourUpdate(
            login_invalidates_older_keys=login_invalidates_older_keys,
            auth_key_rejected_code=auth_key_rejected_code,
            account_locked_code=account_locked_code,
        )
        return FreebitBehaviour.model_validate(self._patch("/behaviour", update))

    def set_plan_codes(self, *plan_codes: str) -> None:
        self._http.put("/plan-codes", json=list(plan_codes)).raise_for_status()

    def now(self) -> datetime:
        return datetime.fromisoformat(self.get("/clock")["now"])

    def advance_clock(self, *, minutes: float = 0, seconds: float = 0) -> datetime:
        """Move the emulator's clock forward; answers the new time."""
        payload = {"seconds": minutes * 60 + seconds}
        return datetime.fromisoformat(self.post("/clock/advance", payload)["now"])

    def operations(self, account: str | None = None) -> list[OperationRecord]:
        """Accepted writes, oldest first, with the clock time each was accepted at."""
        params = None if account is None else {"account": account}
        return _OPERATIONS.validate_python(self.get("/operations", params))

    def requests(self, operation: str | None = None) -> list[RecordedRequest]:
        """API requests as they arrived, oldest first."""
        params = None if operation is None else {"operation": operation}
        return _REQUESTS.validate_python(self.get("/requests", params))

    def _patch(self, path: str, update: BaseModel) -> Any:
        """PATCH the fields `update` sets; the answer's JSON."""
        response = self._http.patch(path, json=update.model_dump(mode="json"))
        response.raise_for_status()
        return response.json()
