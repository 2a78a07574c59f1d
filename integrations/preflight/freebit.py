"""Freebit: the OEM login, a read-only account lookup, and one of its undocumented
assumptions that is cheap to check: an invalid authKey is answered with one of
FREEBIT_AUTH_KEY_REJECTED_CODES."""

from __future__ import annotations

import asyncio

import httpx

from integrations.config import FreebitSettings
from integrations.freebit import wire
from integrations.freebit.client import FreebitClient
from integrations.freebit.errors import AuthKeyRejectedError, FreebitError
from integrations.freebit.paths import FreebitOperation, operation_url
from integrations.preflight.result import CheckFailedError, CheckResult, run_check

SYSTEM = "freebit"
INVALID_AUTH_KEY = "preflight-invalid-auth-key"
PLACEHOLDER_ACCOUNT = "00000000000"


class FreebitPreflight:
    def __init__(self, settings: FreebitSettings, client: FreebitClient) -> None:
        self._settings = settings
        self._client = client

    async def run(self) -> list[CheckResult]:
        login = await run_check(
            SYSTEM,
            "OEM login",
            self._login,
            "check FREEBIT_OEM_ID and the active OEM key (portalctl rotate), and "
            "FREEBIT_BASE_URL / FREEBIT_PATH_AUTH",
        )
        # After the login: the lookup then uses the key it cached, never logs in again.
        others = await asyncio.gather(
            run_check(
                SYSTEM,
                "account lookup (getDetail)",
                self._lookup,
                "set FREEBIT_PROBE_ACCOUNT to a SIM of this OEM account, or check "
                "FREEBIT_PATH_ACCOUNT_DETAIL",
            ),
            run_check(
                SYSTEM,
                "invalid authKey code",
                self._invalid_auth_key,
                lambda error: (
                    "add the resultCode Freebit sent to FREEBIT_AUTH_KEY_REJECTED_CODES"
                    if isinstance(error, CheckFailedError)
                    else "check FREEBIT_BASE_URL and FREEBIT_PATH_ACCOUNT_DETAIL"
                ),
            ),
        )
        return [login, *others]

    async def _login(self) -> str:
        # A fresh login: with FREEBIT_LOGIN_INVALIDATES_OLDER_KEYS the workers' cached key is
        # dropped too, so their next call logs in once instead of sending a dead key.
        await self._client.verify_credentials()
        return f"OEM {self._settings.oem_id} logged in"

    async def _lookup(self) -> str:
        await self._client.check_auth_key()
        account = self._settings.probe_account
        if account is None:
            return "getDetail of a number that is no SIM answered (FREEBIT_PROBE_ACCOUNT unset)"
        return f"getDetail of FREEBIT_PROBE_ACCOUNT {account} answered"

    async def _invalid_auth_key(self) -> str:
        operation = FreebitOperation.ACCOUNT_DETAIL
        account = self._settings.probe_account or PLACEHOLDER_ACCOUNT
        payload = {**wire.account_detail_body(account), "authKey": INVALID_AUTH_KEY}
        async with httpx.AsyncClient(timeout=self._settings.timeout / 1000) as http:
            response = await http.post(
                operation_url(self._settings, operation), data=wire.form(payload)
            )
        try:
            body = response.json()
        except ValueError:
            raise CheckFailedError(f"HTTP {response.status_code}, not JSON") from None
        codes = ", ".join(self._settings.auth_key_rejected_codes)
        try:
            wire.raise_for_result(operation, body, wire.ResultCodes.of(self._settings))
        except AuthKeyRejectedError as rejected:
            return f"refused with resultCode {rejected.result_code} (in {codes})"
        except FreebitError as refusal:
            raise CheckFailedError(
                f"an invalid authKey was refused with resultCode {refusal.result_code}, "
                f"not one of FREEBIT_AUTH_KEY_REJECTED_CODES ({codes})"
            ) from None
        raise CheckFailedError("Freebit accepted an invalid authKey")
