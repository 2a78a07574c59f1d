"""Starting and following `ImportCallRecords`: the workflow id, the policy from RECORDS_*
settings, the download progress of the file being imported."""

from __future__ import annotations

from temporalio.client import Client, WorkflowHandle
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy

from integrations.config import RecordsSettings
from workflows.import_call_records import ImportCallRecords
from workflows.import_call_records_models import (
    ImportCallRecordsInput,
    ImportCallRecordsResult,
    RecordsPolicy,
    call_records_workflow_id,
    normalize_month,
)


def records_policy(settings: RecordsSettings) -> RecordsPolicy:
    return RecordsPolicy(
        check_interval=settings.check_interval, wait_deadline=settings.wait_deadline
    )


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
    client: Client, task_queue: str, month: str, settings: RecordsSettings
) -> WorkflowHandle[ImportCallRecords, ImportCallRecordsResult]:
    """Start the month's import, or attach to it when it is already running."""
    month = normalize_month(month)
    return await client.start_workflow(
        ImportCallRecords.run,
        ImportCallRecordsInput(month=month, policy=records_policy(settings)),
        id=call_records_workflow_id(month),
        task_queue=task_queue,
        id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
    )
