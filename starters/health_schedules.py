"""The health-check schedules `health-{integration}`, at the External Dependencies Runbook's
"Health Check Schedule" frequencies. Overlapping runs are skipped: a check still running
when the next one is due (a slow vendor) is not doubled."""

from __future__ import annotations

from datetime import timedelta

from temporalio.client import (
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
)

from contracts.health import HealthCheckInput, Integration
from workflows.health_check import HealthCheck

CHECK_INTERVALS: dict[Integration, timedelta] = {
    Integration.SALESFORCE: timedelta(minutes=5),
    Integration.WHMCS: timedelta(minutes=5),
    Integration.FREEBIT: timedelta(minutes=15),
    Integration.REDIS: timedelta(minutes=1),
    Integration.DATABASE: timedelta(minutes=1),
    Integration.SFTP: timedelta(hours=1),
}


def health_schedule_id(integration: Integration) -> str:
    return f"health-{integration}"


def health_check_schedule(task_queue: str, integration: Integration) -> Schedule:
    return Schedule(
        action=ScheduleActionStartWorkflow(
            HealthCheck.run,
            HealthCheckInput(integration=integration),
            id=health_schedule_id(integration),
            task_queue=task_queue,
            static_summary=f"check that {integration} answers",
        ),
        spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=CHECK_INTERVALS[integration])]),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
    )
