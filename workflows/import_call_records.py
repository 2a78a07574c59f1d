"""`ImportCallRecords`: one month's call (talk) and SMS detail files from SFTP into PostgreSQL.

For each kind: import the file (an activity on the sftp queue that streams it into a
staging table and swaps the month in one transaction). A file that is not there yet is
looked for again after a durable timer, until the deadline; then the workflow fails with
a clear message. A malformed file fails it at once, naming file and line (nothing changed).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy, VersioningBehavior
from temporalio.exceptions import ActivityError, ApplicationError

from workflows.calls import execute, execute_local
from workflows.search_attributes import RECORDS_MONTH

with workflow.unsafe.imports_passed_through():
    from contracts.records import (
        IMPORT_FILE,
        RECORDS_POLICY,
        REMOTE_FILE_MISSING,
        ImportCallRecordsInput,
        ImportCallRecordsResult,
        ImportCallRecordsStatus,
        ImportedFile,
        ImportFileRequest,
        RecordKind,
        RecordsPolicy,
        file_name,
    )
    from contracts.task_queues import TaskQueues

IMPORT_TIMEOUT = timedelta(hours=6)
HEARTBEAT_TIMEOUT = timedelta(minutes=2)
POLICY_TIMEOUT = timedelta(seconds=10)


@workflow.defn(versioning_behavior=VersioningBehavior.AUTO_UPGRADE)
class ImportCallRecords:
    """Auto-upgrade: it may wait weeks for a file, so it moves to each new build at its next
    task; a change to its commands needs `workflow.patched` (the replay tests catch it)."""

    @workflow.init
    def __init__(self, input: ImportCallRecordsInput) -> None:
        self._month = input.month
        self._status = ImportCallRecordsStatus(month=self._month)
        self._queues = TaskQueues.for_base(workflow.info().task_queue)

    @workflow.run
    async def run(self, input: ImportCallRecordsInput) -> ImportCallRecordsResult:
        month = self._month
        workflow.upsert_search_attributes([RECORDS_MONTH.value_set(month)])
        policy = await execute_local(
            RECORDS_POLICY,
            None,
            start_to_close_timeout=POLICY_TIMEOUT,
            summary="read the worker's RECORDS_* settings",
        )
        deadline = workflow.info().start_time + policy.wait_deadline
        for kind in input.kinds:
            imported = await self._import_when_available(policy, kind, deadline)
            self._status.imported.append(imported)
            workflow.logger.info(
                "Call records imported",
                extra={"file": imported.file, "rows": imported.rows, "sha256": imported.sha256},
            )
        workflow.set_current_details(f"{month}: imported")
        return ImportCallRecordsResult(month=month, files=self._status.imported)

    @workflow.query
    def status(self) -> ImportCallRecordsStatus:
        return self._status

    async def _import_when_available(
        self, policy: RecordsPolicy, kind: RecordKind, deadline: datetime
    ) -> ImportedFile:
        name = file_name(kind, self._month)
        while True:
            self._status.checks += 1
            workflow.set_current_details(f"importing {name}")
            try:
                result = await execute(
                    IMPORT_FILE,
                    ImportFileRequest(kind=kind, month=self._month),
                    task_queue=self._queues.sftp,
                    start_to_close_timeout=IMPORT_TIMEOUT,
                    heartbeat_timeout=HEARTBEAT_TIMEOUT,
                    retry_policy=RetryPolicy(
                        initial_interval=timedelta(seconds=10),
                        maximum_attempts=policy.import_attempts,
                    ),
                    summary=f"download and load {name}",
                )
                self._status.waiting_for = None
                return result
            except ActivityError as error:
                cause = error.cause
                message = cause.message if isinstance(cause, ApplicationError) else str(cause)
                if not (isinstance(cause, ApplicationError) and cause.type == REMOTE_FILE_MISSING):
                    raise ApplicationError(
                        f"import of {name} failed: {message}", type="ImportFailed"
                    ) from error
            if workflow.now() + policy.check_interval > deadline:
                raise ApplicationError(
                    f"{name} is still not on the SFTP server after waiting "
                    f"{policy.wait_deadline}; giving up",
                    type="FileNeverArrived",
                )
            self._status.waiting_for = name
            workflow.set_current_details(
                f"waiting for {name}: not on the SFTP server yet, next look in "
                f"{policy.check_interval}"
            )
            await workflow.sleep(policy.check_interval, summary=f"wait for {name}")
