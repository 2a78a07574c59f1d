"""`HealthCheck`: one integration's health check, run by its Temporal Schedule (`health-*`).

The check runs on the integration's task queue; a check that does not complete (no worker
polls that queue, or it timed out) is recorded as down. Recording the result stores it for
`/health` and logs the alert event when the status changed.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy, VersioningBehavior
from temporalio.exceptions import ActivityError

from workflows.calls import execute

with workflow.unsafe.imports_passed_through():
    from contracts.health import (
        CHECK_INTEGRATION,
        RECORD_HEALTH,
        HealthCheckInput,
        HealthCheckResult,
        HealthResult,
        HealthStatus,
        Integration,
    )
    from contracts.task_queues import TaskQueues

RECORD_TIMEOUT = timedelta(seconds=30)
RECORD_ATTEMPTS = 5


def _task_queue(queues: TaskQueues, integration: Integration) -> str:
    vendor_queues = {
        Integration.SALESFORCE: queues.salesforce,
        Integration.WHMCS: queues.whmcs,
        Integration.FREEBIT: queues.freebit,
        Integration.SFTP: queues.sftp,
    }
    return vendor_queues.get(integration, queues.portal)


@workflow.defn(versioning_behavior=VersioningBehavior.PINNED)
class HealthCheck:
    """Pinned: one check and its record, seconds long."""

    @workflow.run
    async def run(self, input: HealthCheckInput) -> HealthCheckResult:
        queues = TaskQueues.for_base(workflow.info().task_queue)
        result = await self._check(queues, input)
        recorded = await execute(
            RECORD_HEALTH,
            result,
            task_queue=queues.portal,
            start_to_close_timeout=RECORD_TIMEOUT,
            retry_policy=RetryPolicy(maximum_attempts=RECORD_ATTEMPTS),
            summary=f"record {input.integration}: {result.status}",
        )
        workflow.set_current_details(
            f"{input.integration}: {result.status}, {result.latency_ms} ms"
        )
        return recorded

    async def _check(self, queues: TaskQueues, input: HealthCheckInput) -> HealthResult:
        """Checked once, never retried: the next scheduled run is the retry."""
        integration = input.integration
        try:
            return await execute(
                CHECK_INTEGRATION,
                input,
                task_queue=_task_queue(queues, integration),
                schedule_to_close_timeout=input.check_timeout,
                retry_policy=RetryPolicy(maximum_attempts=1),
                summary=f"check {integration}",
            )
        except ActivityError as error:
            return HealthResult(
                integration=integration,
                status=HealthStatus.DOWN,
                latency_ms=0,
                checked_at=workflow.now(),
                error=f"the check did not complete: {error.cause or error}",
            )
