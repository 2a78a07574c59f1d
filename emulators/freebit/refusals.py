"""Freebit's non-success answers. HTTP is 200; the body carries `resultCode` (a string) and
`status.{message,statusCode}`. Freebit publishes no code list, so these are the emulator's
choice. The production client relies on 100 and on the codes of the two refusals marked (*),
and only through its settings (FREEBIT_AUTH_KEY_REJECTED_CODES, FREEBIT_ACCOUNT_LOCKED_CODES):
the emulator can send other codes for those two (`FreebitBehaviour`), the defaults below.

| resultCode | statusCode | when                                                           |
|------------|------------|----------------------------------------------------------------|
| 100        | 200        | success                                                        |
| 210        | 401        | `/authOem/`: unknown oemId or wrong oemKey                      |
| 211 (*)    | 401        | authKey unknown or expired: authenticate again                 |
| 220        | 400        | malformed request or parameter (missing `json`, bad date, ...) |
| 221        | 400        | unknown planCode                                               |
| 230        | 404        | unknown account                                                |
| 240 (*)    | 409        | account locked: 4G/5G change running, or inside operation gap |
| 250        | 409        | cancellation already requested for the account                |
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum


class ConfigurableRefusal(StrEnum):
    """A refusal whose resultCode `FreebitBehaviour` chooses."""

    AUTH_KEY_REJECTED = "auth_key_rejected"
    ACCOUNT_LOCKED = "account_locked"


class FreebitApiError(Exception):
    """A request Freebit refuses, with its resultCode, statusCode and message; `configurable`
    names the refusals whose resultCode the emulator's behaviour replaces."""

    def __init__(
        self,
        result_code: str,
        status_code: str,
        message: str,
        *,
        configurable: ConfigurableRefusal | None = None,
    ) -> None:
        super().__init__(f"{result_code} {message}")
        self.result_code = result_code
        self.status_code = status_code
        self.message = message
        self.configurable = configurable


def oem_authentication_failed() -> FreebitApiError:
    return FreebitApiError("210", "401", "OEM authentication failed")


def auth_key_rejected() -> FreebitApiError:
    return FreebitApiError(
        "211",
        "401",
        "authKey is invalid or expired",
        configurable=ConfigurableRefusal.AUTH_KEY_REJECTED,
    )


def invalid_request(message: str) -> FreebitApiError:
    return FreebitApiError("220", "400", message)


def unknown_plan_code(plan_code: str) -> FreebitApiError:
    return FreebitApiError("221", "400", f"Unknown planCode {plan_code}")


def account_not_found(account: str) -> FreebitApiError:
    return FreebitApiError("230", "404", f"Account {account} not found")


def account_locked(account: str, reason: str, until: datetime) -> FreebitApiError:
    return FreebitApiError(
        "240",
        "409",
        f"Account {account} is locked ({reason}) until {until:%Y-%m-%dT%H:%M:%S%z}",
        configurable=ConfigurableRefusal.ACCOUNT_LOCKED,
    )


def cancellation_already_requested(account: str) -> FreebitApiError:
    return FreebitApiError("250", "409", f"Cancellation of account {account} already requested")
