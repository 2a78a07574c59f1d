"""Measures every activity for `/metrics`: its duration by integration and operation, and
its failures by error code. The integration is the vendor the activity calls: the vendor of
its module (activities/whmcs.py, ...), so a vendor call run as a local activity on the base
queue still counts as that vendor's; otherwise the vendor of the task queue it runs on (health
checks, rotation steps, call-record imports; `portal` for the base queue's database work).
The operation is the activity type.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from temporalio import activity, worker

from contracts.task_queues import TaskQueues
from integrations.errors import IntegrationError
from integrations.metrics import ERRORS, REQUEST_SECONDS

BASE_QUEUE = "portal"
_VENDOR_QUEUES = [name for name in TaskQueues.model_fields if name != BASE_QUEUE]


_VENDOR_MODULES = {f"activities.{name}": name for name in _VENDOR_QUEUES}


def integration_of(fn: Callable[..., Any], task_queue: str) -> str:
    vendor = _VENDOR_MODULES.get(getattr(fn, "__module__", ""))
    if vendor is not None:
        return vendor
    return next((name for name in _VENDOR_QUEUES if task_queue.endswith(f"-{name}")), BASE_QUEUE)


class _MeasuredActivity(worker.ActivityInboundInterceptor):
    async def execute_activity(self, input: worker.ExecuteActivityInput) -> Any:
        info = activity.info()
        integration = integration_of(input.fn, info.task_queue)
        started = time.monotonic()
        try:
            return await self.next.execute_activity(input)
        except Exception as error:
            code = error.code if isinstance(error, IntegrationError) else type(error).__name__
            ERRORS.labels(integration, code).inc()
            raise
        finally:
            elapsed = time.monotonic() - started
            REQUEST_SECONDS.labels(integration, info.activity_type).observe(elapsed)


class ActivityMetricsInterceptor(worker.Interceptor):
    def intercept_activity(
        self, next: worker.ActivityInboundInterceptor
    ) -> worker.ActivityInboundInterceptor:
        return _MeasuredActivity(next)
