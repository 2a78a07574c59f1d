"""Temporal Schedules of this system, applied idempotently by `portalctl schedules apply`.

`call-records-monthly`: on the 1st of each month, 06:00 Japan time, import the month two
months back. The run itself waits (durable timer) until the files appear, up to
RECORDS_WAIT_DEADLINE, so one run per month suffices; overlapping runs are skipped.
"""

from __future__ import annotations

from dataclasses import dataclass

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

from integrations.config import RecordsSettings
from starters.records import records_policy
from workflows.import_call_records import ImportCallRecords
from workflows.import_call_records_models import ImportCallRecordsInput

CALL_RECORDS_SCHEDULE_ID = "call-records-monthly"


@dataclass(frozen=True)
class AppliedSchedule:
    schedule_id: str
    created: bool


def call_records_schedule(task_queue: str, settings: RecordsSettings) -> Schedule:
    return Schedule(
        action=ScheduleActionStartWorkflow(
            ImportCallRecords.run,
            ImportCallRecordsInput(month=None, policy=records_policy(settings)),
            id="call-records-scheduled",
            task_queue=task_queue,
        ),
        spec=ScheduleSpec(
            calendars=[
                ScheduleCalendarSpec(
                    day_of_month=[ScheduleRange(1)],
                    hour=[ScheduleRange(6)],
                    minute=[ScheduleRange(0)],
                    second=[ScheduleRange(0)],
                )
            ],
            time_zone_name="Asia/Tokyo",
        ),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
    )


async def apply_schedules(
    client: Client, task_queue: str, settings: RecordsSettings
) -> list[AppliedSchedule]:
    """Create each schedule, or update it to the definition here when it exists."""
    schedule = call_records_schedule(task_queue, settings)
    try:
        await client.create_schedule(CALL_RECORDS_SCHEDULE_ID, schedule)
        return [AppliedSchedule(CALL_RECORDS_SCHEDULE_ID, created=True)]
    except ScheduleAlreadyRunningError:
        pass

    def replace(_: ScheduleUpdateInput) -> ScheduleUpdate:
        return ScheduleUpdate(schedule=schedule)

    await client.get_schedule_handle(CALL_RECORDS_SCHEDULE_ID).update(replace)
    return [AppliedSchedule(CALL_RECORDS_SCHEDULE_ID, created=False)]
