"""Turns the integrations' typed errors into Temporal application errors.

The retry policy then does the right thing on its own: transient errors are retried (after
the vendor's Retry-After when it sent one), business and authentication errors are not.
The error code travels as the first detail, for `Activation_Error_Code__c`.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio import worker
from temporalio.exceptions import ApplicationError

from integrations.errors import IntegrationError


def as_application_error(error: IntegrationError) -> ApplicationError:
    return ApplicationError(
        error.message,
        error.code,
        type=type(error).__name__,
        non_retryable=not error.retryable,
        next_retry_delay=timedelta(seconds=error.retry_after) if error.retry_after else None,
    )


class _IntegrationErrorsInbound(worker.ActivityInboundInterceptor):
    async def execute_activity(self, input: worker.ExecuteActivityInput) -> Any:
        try:
            return await self.next.execute_activity(input)
        except IntegrationError as error:
            raise as_application_error(error) from error


class IntegrationErrorInterceptor(worker.Interceptor):
    def intercept_activity(
        self, next: worker.ActivityInboundInterceptor
    ) -> worker.ActivityInboundInterceptor:
        return _IntegrationErrorsInbound(next)
