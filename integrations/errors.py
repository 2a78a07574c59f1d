"""The small error hierarchy every integration client raises.

`code` is what an operator sees in Salesforce `Activation_Error_Code__c` (seed examples:
`429`, `503`, `ETIMEOUT`, `409`), so it is short and stable.
"""

from __future__ import annotations


class IntegrationError(Exception):
    """A call to an external system failed."""

    retryable = False

    def __init__(self, code: str, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(f"{code} {message}")
        self.code = code
        self.message = message
        self.retry_after = retry_after


class TransientError(IntegrationError):
    """Timeouts, connection errors, 5xx, rate limits: worth retrying later."""

    retryable = True


class BusinessError(IntegrationError):
    """The request is understood and refused; retrying it unchanged cannot succeed."""


class AuthenticationError(BusinessError):
    """Credentials were rejected; an operator has to fix them."""
