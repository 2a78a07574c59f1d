"""`ScheduledCallRecordsImport`: what the daily `call-records-daily` schedule runs.

It makes sure the month `months_behind` back is imported exactly once: it starts
`ImportCallRecords` as the child `call-records-{YYYYMM}` (abandoned, so the import outlives
this short run) unless that id already has a run in progress or one that succeeded. A failed
import (file never arrived, malformed file) may be started again, so the daily runs retry a
month until it has succeeded, and are no-ops after that.
"""

from __future__ import annotations

from temporalio import workflow
from temporalio.common import VersioningBehavior, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.workflow import ParentClosePolicy

from workflows.import_call_records import ImportCallRecords

with workflow.unsafe.imports_passed_through():
    from contracts.records import (
        ImportCallRecordsInput,
        ScheduledCallRecordsImportInput,
        ScheduledCallRecordsImportResult,
        call_records_workflow_id,
        months_back,
    )


@workflow.defn(versioning_behavior=VersioningBehavior.PINNED)
class ScheduledCallRecordsImport:
    """Pinned: one short run a day that starts the month's import and ends."""

    @workflow.run
    async def run(self, input: ScheduledCallRecordsImportInput) -> ScheduledCallRecordsImportResult:
        month = months_back(workflow.info().start_time, input.months_behind)
        workflow_id = call_records_workflow_id(month)
        try:
            await workflow.start_child_workflow(
                ImportCallRecords.run,
                ImportCallRecordsInput(month=month),
                id=workflow_id,
                id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY,
                parent_close_policy=ParentClosePolicy.ABANDON,
                static_summary=f"import the call and SMS records of {month}",
            )
        except WorkflowAlreadyStartedError:
            workflow.logger.info(
                "Call records import running or succeeded already", extra={"month": month}
            )
            return ScheduledCallRecordsImportResult(
                month=month, workflow_id=workflow_id, started=False
            )
        return ScheduledCallRecordsImportResult(month=month, workflow_id=workflow_id, started=True)
