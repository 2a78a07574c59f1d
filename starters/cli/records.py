"""`portalctl records ...`: call and SMS detail imports."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer
from rich.progress import BarColumn, DownloadColumn, Progress, SpinnerColumn, TextColumn
from temporalio.client import WorkflowFailureError

from contracts.records import (
    ImportCallRecordsResult,
    ImportCallRecordsStatus,
    call_records_workflow_id,
    normalize_month,
)
from starters.cli.support import fail, run, temporal_client
from starters.records import download_progress, start_import
from workflows.import_call_records import ImportCallRecords

records_app = typer.Typer(help="Monthly call and SMS detail records.", no_args_is_help=True)

POLL_SECONDS = 1.0


class _ImportDisplay:
    """One line: the files imported so far or the one waited for, and a bar for the file
    being downloaded (a new bar per file)."""

    def __init__(self, progress: Progress, workflow_id: str) -> None:
        self._progress = progress
        self._workflow_id = workflow_id
        self._task = progress.add_task(f"{workflow_id}: starting", total=None)

    def show(self, status: ImportCallRecordsStatus, download: tuple[int, int] | None) -> None:
        done = ", ".join(f"{f.file} {f.rows} rows" for f in status.imported)
        waiting = f" waiting for {status.waiting_for}" if status.waiting_for else ""
        description = f"{self._workflow_id}: {done or 'importing'}{waiting}"
        if download is None:
            if self._progress.tasks[self._task].total is not None:
                self._progress.remove_task(self._task)
                self._task = self._progress.add_task(description, total=None)
            self._progress.update(self._task, description=description)
            return
        read, size = download
        self._progress.update(self._task, description=description, completed=read, total=size)


@records_app.command("import")
def import_month(
    month: Annotated[str, typer.Argument(help="the month, YYYY-MM")],
) -> None:
    """Import (or re-import) one month's talk and SMS files; waits until done."""
    try:
        normalize_month(month)
    except ValueError as error:
        raise fail(str(error)) from None

    async def start_and_follow() -> ImportCallRecordsResult:
        client, temporal = await temporal_client()
        handle = await start_import(client, temporal.task_queue, month)
        result = asyncio.ensure_future(handle.result())
        columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), DownloadColumn())
        with Progress(*columns) as progress:
            display = _ImportDisplay(progress, handle.id)
            while not result.done():
                status = await handle.query(ImportCallRecords.status)
                display.show(status, await download_progress(client, handle))
                await asyncio.wait([result], timeout=POLL_SECONDS)
        return await result

    try:
        outcome = run(start_and_follow())
    except WorkflowFailureError as error:
        raise fail(f"{call_records_workflow_id(month)} failed: {error.cause}") from None
    for imported in outcome.files:
        typer.echo(
            f"{imported.file}: {imported.rows} rows, {imported.size_bytes} bytes, "
            f"sha256 {imported.sha256}, {imported.duration_seconds} s"
        )
