"""Freebit's refusals, on top of the shared integration error hierarchy."""

from __future__ import annotations

from integrations.errors import AuthenticationError, BusinessError, TransientError

AMBIGUOUS_ERROR_CODES = frozenset({"ETIMEOUT", "502", "504"})
"""Failures after which Freebit may have applied the request: the request went out and no
answer came back (ETIMEOUT), or a gateway gave up waiting for Freebit (502, 504)."""


class FreebitError(BusinessError):
    """Freebit refused the request; `code` is its statusCode (or resultCode if none)."""

    def __init__(self, code: str, message: str, *, result_code: str) -> None:
        super().__init__(code, message)
        self.result_code = result_code


class AccountLockedError(TransientError):
    """Code LOCKED: one of FREEBIT_ACCOUNT_LOCKED_CODES, e.g. a 4G/5G change is running or the
    operation gap has not passed. Nothing was applied, so the same request can be sent again
    later. `result_code` is the resultCode Freebit sent."""

    def __init__(self, code: str, message: str, *, result_code: str = "") -> None:
        super().__init__(code, message)
        self.result_code = result_code


class AuthKeyRejectedError(AuthenticationError):
    """One of FREEBIT_AUTH_KEY_REJECTED_CODES: the authKey is unknown or expired; the client
    authenticates again once by itself. `result_code` is the resultCode Freebit sent."""

    def __init__(self, code: str, message: str, *, result_code: str = "") -> None:
        super().__init__(code, message)
        self.result_code = result_code
