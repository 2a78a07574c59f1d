"""`portalctl schedules apply` on the dev server (the time-skipping server has no schedules):
every schedule once, however often it is applied."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from temporalio.client import Client, ScheduleIntervalSpec
from temporalio.testing import WorkflowEnvironment

from starters.schedules import (
    CALL_RECORDS_SCHEDULE_ID,
    ScheduleOutcome,
    apply_schedules,
    system_schedules,
)
from tests.support.polling import wait_until

pytestmark = pytest.mark.e2e

HEALTH_INTERVALS = {
    "health-salesforce": timedelta(minutes=5),
    "health-whmcs": timedelta(minutes=5),
    "health-freebit": timedelta(minutes=15),
    "health-redis": timedelta(minutes=1),
    "health-database": timedelta(minutes=1),
    "health-sftp": timedelta(hours=1),
}
ALL_IDS = {CALL_RECORDS_SCHEDULE_ID, *HEALTH_INTERVALS}


@pytest.fixture
async def client(dev_env: WorkflowEnvironment) -> AsyncIterator[Client]:
    """The dev server's client; the schedules applied are deleted afterwards."""
    yield dev_env.client
    async for listed in await dev_env.client.list_schedules():
        if listed.id in ALL_IDS:
            await dev_env.client.get_schedule_handle(listed.id).delete()


async def _listed_ids(client: Client) -> Counter[str]:
    return Counter([listed.id async for listed in await client.list_schedules()])


async def test_applying_twice_creates_each_schedule_once(client: Client) -> None:
    task_queue = f"schedules-{uuid.uuid4()}"
    schedules = system_schedules(task_queue, sftp_configured=True)

    first = await apply_schedules(client, schedules)
    second = await apply_schedules(client, schedules)

    assert {a.schedule_id: a.outcome for a in first} == dict.fromkeys(ALL_IDS, "created")
    assert {a.schedule_id: a.outcome for a in second} == dict.fromkeys(ALL_IDS, "updated")

    async def all_listed() -> bool:
        return set(await _listed_ids(client)) >= ALL_IDS

    await wait_until(all_listed, "every schedule is listed")
    listed = await _listed_ids(client)
    assert all(listed[schedule_id] == 1 for schedule_id in ALL_IDS)
    for schedule_id, interval in HEALTH_INTERVALS.items():
        spec = (await client.get_schedule_handle(schedule_id).describe()).schedule.spec
        assert spec.intervals == [ScheduleIntervalSpec(every=interval)]


async def test_a_paused_schedule_stays_paused_and_sftp_follows_its_setting(
    client: Client,
) -> None:
    task_queue = f"schedules-{uuid.uuid4()}"
    await apply_schedules(client, system_schedules(task_queue, sftp_configured=True))
    await client.get_schedule_handle("health-whmcs").pause(note="vendor maintenance")

    applied = await apply_schedules(client, system_schedules(task_queue, sftp_configured=False))

    whmcs = await client.get_schedule_handle("health-whmcs").describe()
    assert whmcs.schedule.state.paused
    outcomes = {a.schedule_id: a.outcome for a in applied}
    assert outcomes["health-sftp"] is ScheduleOutcome.DELETED
    again = await apply_schedules(client, system_schedules(task_queue, sftp_configured=False))
    assert "health-sftp" not in {a.schedule_id for a in again}
