"""Temporal Schedules of this system, applied idempotently by `portalctl schedules apply`.

`call-records-daily`: every day at 06:00 Japan time, `ScheduledCallRecordsImport` makes sure
the month two months back is imported as `call-records-{YYYYMM}`: it starts that import
unless it is running or has succeeded (a failed one is started again). The import itself
waits (durable timer) for the files up to RECORDS_WAIT_DEADLINE.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleCalendarSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleRange,
    ScheduleSpec,
    ScheduleUpdate,
    ScheduleUpdateInput,
)
from temporalio.service import RPCError, RPCStatusCode

from contracts.health import Integration
from contracts.records import ScheduledCallRecordsImportInput
from starters.health_schedules import health_check_schedule, health_schedule_id
from workflows.import_call_records_scheduled import ScheduledCallRecordsImport

CALL_RECORDS_SCHEDULE_ID = "call-records-daily"


ScheduleDefinition = tuple[str, Schedule | None]
"""A schedule id and its definition; None: a schedule that must not exist."""


class ScheduleOutcome(StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    DELETED = "deleted"


@dataclass(frozen=True)
class AppliedSchedule:
    schedule_id: str
    outcome: ScheduleOutcome


def call_records_schedule(task_queue: str) -> Schedule:
    return Schedule(
        action=ScheduleActionStartWorkflow(
            ScheduledCallRecordsImport.run,
            ScheduledCallRecordsImportInput(),
            id=CALL_RECORDS_SCHEDULE_ID,
            task_queue=task_queue,
            static_summary="start the import of last month's call and SMS records",
        ),
        spec=ScheduleSpec(
            calendars=[
                ScheduleCalendarSpec(
                    hour=[ScheduleRange(6)],
                    minute=[ScheduleRange(0)],
                    second=[ScheduleRange(0)],
                )
            ],
            time_zone_name="Asia/Tokyo",
        ),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
    )


def system_schedules(task_queue: str, *, sftp_configured: bool) -> list[ScheduleDefinition]:
    """Every schedule of this system; `health-sftp` must not exist without an SFTP host."""
    health = [
        (
            health_schedule_id(integration),
            health_check_schedule(task_queue, integration)
            if integration is not Integration.SFTP or sftp_configured
            else None,
        )
        for integration in Integration
    ]
    return [(CALL_RECORDS_SCHEDULE_ID, call_records_schedule(task_queue)), *health]


async def apply_schedules(
    client: Client, schedules: Sequence[ScheduleDefinition]
) -> list[AppliedSchedule]:
    """Create each schedule, or update it to its definition here when it exists (a paused
    schedule stays paused); delete the ones defined as None. Applying twice changes nothing."""
    applied = []
    for schedule_id, schedule in schedules:
        if schedule is not None:
            applied.append(
                AppliedSchedule(schedule_id, await _apply(client, schedule_id, schedule))
            )
        elif await _delete_if_present(client, schedule_id):
            applied.append(AppliedSchedule(schedule_id, ScheduleOutcome.DELETED))
    return applied


async def _apply(client: Client, schedule_id: str, schedule: Schedule) -> ScheduleOutcome:
    try:
        await client.create_schedule(schedule_id, schedule)
        return ScheduleOutcome.CREATED
    except ScheduleAlreadyRunningError:
        pass

    def replace(current: ScheduleUpdateInput) -> ScheduleUpdate:
        state = current.description.schedule.state
        return ScheduleUpdate(schedule=dataclasses.replace(schedule, state=state))

    await client.get_schedule_handle(schedule_id).update(replace)
    return ScheduleOutcome.UPDATED


async def _delete_if_present(client: Client, schedule_id: str) -> bool:
    try:
        await client.get_schedule_handle(schedule_id).delete()
    except RPCError as error:
        if error.status is RPCStatusCode.NOT_FOUND:
            return False
        raise
    return True
