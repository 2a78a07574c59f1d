"""`ImportCallRecords` on the time-skipping server, with the real worker, the SFTP emulator
(real SSH) and PostgreSQL."""

from __future__ import annotations

import dataclasses
import random
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import psycopg
import pytest
from temporalio.client import WorkflowExecutionStatus, WorkflowFailureError, WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from activities.call_records import CallRecordsActivities
from contracts.records import (
    ImportCallRecordsInput,
    ImportCallRecordsResult,
    RecordKind,
    RecordsPolicy,
    ScheduledCallRecordsImportInput,
    ScheduledCallRecordsImportResult,
    call_records_workflow_id,
    file_name,
    months_back,
)
from emulators.sftp import SftpEmulator
from integrations.config import DatabaseSettings
from tests.conftest import SaveHistory
from tests.support.polling import wait_until
from tests.support.temporal import deployment_for, workflow_environment
from tests.support.worker_policies import with_policies
from workers.dependencies import Integrations
from workers.worker import running_workers
from workflows.import_call_records import ImportCallRecords
from workflows.import_call_records_scheduled import ScheduledCallRecordsImport

MONTH = "202609"
POLICY = RecordsPolicy(  # set on the worker, as RECORDS_* are
    check_interval=timedelta(hours=1), wait_deadline=timedelta(hours=5), import_attempts=3
)

Handle = WorkflowHandle[ImportCallRecords, ImportCallRecordsResult]
Scheduled = WorkflowHandle[ScheduledCallRecordsImport, ScheduledCallRecordsImportResult]


@pytest.fixture(scope="module")
async def env(request: pytest.FixtureRequest) -> AsyncIterator[WorkflowEnvironment]:
    """A server of this module's own: after the daily runs' abandoned child imports, the
    time-skipping server (1.40) no longer skips time, which stalled later modules' tests."""
    async with workflow_environment(request.config.getoption("--workflow-environment")) as env:
        yield env


@pytest.fixture
async def worker(
    env: WorkflowEnvironment,
    task_queue: str,
    integrations: Integrations,
    sftp: SftpEmulator,
    database: DatabaseSettings,
) -> AsyncIterator[None]:
    with_sftp = dataclasses.replace(
        with_policies(integrations, records=POLICY),
        call_records=CallRecordsActivities(sftp.settings(), database),
    )
    async with running_workers(env.client, task_queue, with_sftp, deployment_for(task_queue)):
        yield


async def _start(env: WorkflowEnvironment, task_queue: str) -> Handle:
    return await env.client.start_workflow(
        ImportCallRecords.run,
        ImportCallRecordsInput(month=MONTH),
        id=f"{call_records_workflow_id(MONTH)}-{uuid.uuid4().hex[:6]}",
        task_queue=task_queue,
    )


def _count(database: DatabaseSettings, table: str, month: str = MONTH) -> int:
    with psycopg.connect(database.url) as connection:
        query = f"SELECT count(*) FROM {table} WHERE month = %s"
        row = connection.execute(query.encode(), (month,)).fetchone()
        assert row is not None
        return int(row[0])


@pytest.mark.usefixtures("worker")
async def test_imports_both_files(
    env: WorkflowEnvironment,
    task_queue: str,
    sftp: SftpEmulator,
    database: DatabaseSettings,
    save_history: SaveHistory,
) -> None:
    sftp.put_generated(RecordKind.TALK, MONTH, rows=1200)
    sftp.put_generated(RecordKind.SMS, MONTH, rows=300)

    handle = await _start(env, task_queue)
    result = await handle.result()

    assert [(f.file, f.rows) for f in result.files] == [
        (file_name(RecordKind.TALK, MONTH), 1200),
        (file_name(RecordKind.SMS, MONTH), 300),
    ]
    assert all(len(f.sha256) == 64 and f.size_bytes > 0 for f in result.files)
    assert _count(database, "call_records_talk") == 1200
    assert _count(database, "call_records_sms") == 300
    await save_history(handle, "call_records_imported")

    again = await (await _start(env, task_queue)).result()
    assert [f.sha256 for f in again.files] == [f.sha256 for f in result.files]
    assert _count(database, "call_records_talk") == 1200


@pytest.mark.usefixtures("worker")
async def test_waits_for_missing_file_then_imports_it(
    env: WorkflowEnvironment,
    task_queue: str,
    sftp: SftpEmulator,
    database: DatabaseSettings,
    save_history: SaveHistory,
) -> None:
    sftp.put_generated(RecordKind.TALK, MONTH, rows=10)
    sms_file = file_name(RecordKind.SMS, MONTH)

    handle = await _start(env, task_queue)

    async def waiting() -> bool:
        return (await handle.query(ImportCallRecords.status)).waiting_for == sms_file

    await wait_until(waiting, f"the workflow waits for {sms_file}")
    sftp.put_generated(RecordKind.SMS, MONTH, rows=20)
    result = await handle.result()

    assert [f.rows for f in result.files] == [10, 20]
    assert (await handle.query(ImportCallRecords.status)).checks >= 3
    assert _count(database, "call_records_sms") == 20
    await save_history(handle, "call_records_waited_for_file")


@pytest.mark.usefixtures("worker")
async def test_file_still_being_uploaded_is_imported_only_once_complete(
    env: WorkflowEnvironment, task_queue: str, sftp: SftpEmulator, database: DatabaseSettings
) -> None:
    """The talk file grows at each look (an upload going on): the first attempt sees it
    grow, fails as a missing file, and the workflow looks again after its timer."""
    upload = sftp.put_partial(RecordKind.TALK, MONTH, rows=3000, seed=9, parts=3, grow_on_look=True)
    sftp.put_generated(RecordKind.SMS, MONTH, rows=10)

    handle = await _start(env, task_queue)
    result = await handle.result()

    talk = result.files[0]
    assert (talk.rows, talk.size_bytes, talk.sha256) == (3000, upload.size, upload.sha256())
    assert (await handle.query(ImportCallRecords.status)).checks == 3
    failures = [
        event.activity_task_failed_event_attributes.failure.message
        async for event in handle.fetch_history_events()
        if event.HasField("activity_task_failed_event_attributes")
    ]
    assert len(failures) == 1
    assert failures[0].startswith(f"records/{talk.file} is still being uploaded")
    with psycopg.connect(database.url) as connection:
        imports = connection.execute(
            b"SELECT file, size_bytes, sha256 FROM call_record_imports WHERE kind = 'talk'"
        ).fetchall()
    assert imports == [(talk.file, upload.size, upload.sha256())]
    assert _count(database, "call_records_talk") == 3000


@pytest.mark.usefixtures("worker")
async def test_gives_up_clearly_after_the_deadline(
    env: WorkflowEnvironment, task_queue: str, sftp: SftpEmulator
) -> None:
    handle = await _start(env, task_queue)

    with pytest.raises(WorkflowFailureError) as failure:
        await handle.result()

    assert "PASI_talk-detail-202609.csv is still not on the SFTP server after waiting" in str(
        failure.value.cause
    )


@pytest.mark.usefixtures("worker")
async def test_malformed_line_fails_naming_file_and_line_and_keeps_month(
    env: WorkflowEnvironment, task_queue: str, sftp: SftpEmulator, database: DatabaseSettings
) -> None:
    sftp.put_generated(RecordKind.TALK, MONTH, rows=40)
    sftp.put_generated(RecordKind.SMS, MONTH, rows=40)
    await (await _start(env, task_queue)).result()
    name = file_name(RecordKind.SMS, MONTH)
    lines = (sftp.root / name).read_bytes().split(b"\r\n")
    lines[12] = lines[12].replace(b",", b";", 1)
    sftp.put_bytes(name, b"\r\n".join(lines))

    with pytest.raises(WorkflowFailureError) as failure:
        await (await _start(env, task_queue)).result()

    assert f"import of {name} failed: {name} line 13: 5 fields, expected 6" in str(
        failure.value.cause
    )
    assert _count(database, "call_records_sms") == 40


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
@pytest.mark.usefixtures("worker")
async def test_disconnect_mid_file_is_retried_without_partial_month(
    env: WorkflowEnvironment, task_queue: str, sftp: SftpEmulator, database: DatabaseSettings
) -> None:
    sftp.put_generated(RecordKind.TALK, MONTH, rows=20_000, seed=7)
    sftp.put_generated(RecordKind.SMS, MONTH, rows=5)
    sftp.faults.disconnect_after_bytes = 200_000
    sftp.faults.disconnects = 2

    result = await (await _start(env, task_queue)).result()

    assert result.files[0].rows == 20_000
    assert sftp.faults.disconnected == 2
    assert _count(database, "call_records_talk") == 20_000


async def _run_daily(env: WorkflowEnvironment, task_queue: str, months_behind: int) -> Scheduled:
    """One run of what the `call-records-daily` schedule starts."""
    return await env.client.start_workflow(
        ScheduledCallRecordsImport.run,
        ScheduledCallRecordsImportInput(months_behind=months_behind),
        id=f"call-records-daily-{uuid.uuid4().hex[:6]}",
        task_queue=task_queue,
    )


def _import_of(env: WorkflowEnvironment, daily: ScheduledCallRecordsImportResult) -> Handle:
    return env.client.get_workflow_handle_for(ImportCallRecords.run, daily.workflow_id)


@pytest.fixture
def months_behind() -> int:
    """A month far back that no other test imports (ids `call-records-YYYYMM` are global)."""
    return random.SystemRandom().randrange(24, 1200)


@pytest.mark.usefixtures("worker")
async def test_daily_runs_import_the_month_once(
    env: WorkflowEnvironment,
    task_queue: str,
    sftp: SftpEmulator,
    database: DatabaseSettings,
    months_behind: int,
    save_history: SaveHistory,
) -> None:
    month = months_back(await env.get_current_time(), months_behind)
    sftp.put_generated(RecordKind.TALK, month, rows=30)
    sftp.put_generated(RecordKind.SMS, month, rows=20)

    first = await _run_daily(env, task_queue, months_behind)
    started = await first.result()
    imported = await _import_of(env, started).result()
    second = await _run_daily(env, task_queue, months_behind)
    again = await second.result()

    assert started == ScheduledCallRecordsImportResult(
        month=month, workflow_id=f"call-records-{month}", started=True
    )
    assert [file.rows for file in imported.files] == [30, 20]
    assert again.started is False
    assert _count(database, "call_record_imports", month) == 2
    await save_history(first, "call_records_daily_started")
    await save_history(second, "call_records_daily_already_imported")


@pytest.mark.usefixtures("worker")
async def test_daily_run_leaves_a_running_import_alone(
    env: WorkflowEnvironment, task_queue: str, sftp: SftpEmulator, months_behind: int
) -> None:
    first = await (await _run_daily(env, task_queue, months_behind)).result()
    running = _import_of(env, first)
    with env.auto_time_skipping_disabled():  # keeps the import waiting for its files
        second = await (await _run_daily(env, task_queue, months_behind)).result()
        description = await running.describe()
    await running.terminate("test over")

    assert (first.started, second.started) == (True, False)
    assert description.status == WorkflowExecutionStatus.RUNNING


@pytest.mark.usefixtures("worker")
async def test_daily_run_starts_a_failed_import_again(
    env: WorkflowEnvironment,
    task_queue: str,
    sftp: SftpEmulator,
    database: DatabaseSettings,
    months_behind: int,
) -> None:
    month = months_back(await env.get_current_time(), months_behind)
    sftp.put_generated(RecordKind.TALK, month, rows=5)
    sftp.put_bytes(file_name(RecordKind.SMS, month), b"not the header\r\n")
    first = await (await _run_daily(env, task_queue, months_behind)).result()
    with pytest.raises(WorkflowFailureError):
        await _import_of(env, first).result()
    sftp.put_generated(RecordKind.SMS, month, rows=5)

    retry = await (await _run_daily(env, task_queue, months_behind)).result()
    imported = await _import_of(env, retry).result()

    assert (first.started, retry.started) == (True, True)
    assert retry.workflow_id == first.workflow_id
    assert [file.rows for file in imported.files] == [5, 5]
    assert _count(database, "call_records_sms", month) == 5
