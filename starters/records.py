"""Starting and following `ImportCallRecords`: the workflow id and the download progress of
the file being imported."""

from __future__ import annotations

from temporalio.client import Client, WorkflowHandle
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy

from contracts.records import (
    ImportCallRecordsInput,
    ImportCallRecordsResult,
    call_records_workflow_id,
    normalize_month,
)
from workflows.import_call_records import ImportCallRecords


async def download_progress(
    client: Client, handle: WorkflowHandle[ImportCallRecords, ImportCallRecordsResult]
) -> tuple[int, int] | None:
    """(bytes read, file size) of the file being imported, from its activity's last
    heartbeat; None when no download has reported yet."""
    description = await handle.describe()
    for pending in description.raw_description.pending_activities:
        if pending.heartbeat_details.payloads:
            read, size = await client.data_converter.decode(
                pending.heartbeat_details.payloads, [int, int]
            )
            return read, size
    return None


async def start_import(
    client: Client, task_queue: str, month: str
) -> WorkflowHandle[ImportCallRecords, ImportCallRecordsResult]:
    """Start the month's import, or attach to it when it is already running."""
    month = normalize_month(month)
    return await client.start_workflow(
        ImportCallRecords.run,
        ImportCallRecordsInput(month=month),
        id=call_records_workflow_id(month),
        task_queue=task_queue,
        id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        static_summary=f"import the call and SMS records of {month}",
    )
