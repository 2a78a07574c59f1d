"""`portalctl records ...` and `portalctl schedules ...`: call and SMS detail imports."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer
from rich.progress import Progress, SpinnerColumn, TextColumn

from integrations.config import RecordsSettings, load
from starters.cli_support import fail, run, temporal_client
from starters.records import start_import
from starters.schedules import apply_schedules
from workflows.import_call_records import ImportCallRecords
from workflows.import_call_records_models import ImportCallRecordsResult, normalize_month

records_app = typer.Typer(help="Monthly call and SMS detail records.", no_args_is_help=True)
schedules_app = typer.Typer(help="Temporal Schedules of this system.", no_args_is_help=True)

POLL_SECONDS = 1.0


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
        settings = load(RecordsSettings)
        client, temporal = await temporal_client()
        handle = await start_import(client, temporal.task_queue, month, settings)
        result = asyncio.ensure_future(handle.result())
        with Progress(SpinnerColumn(), TextColumn("{task.description}")) as progress:
            task = progress.add_task(f"{handle.id}: starting")
            while not result.done():
                status = await handle.query(ImportCallRecords.status)
                done = ", ".join(f"{f.file} {f.rows} rows" for f in status.imported)
                waiting = f" waiting for {status.waiting_for}" if status.waiting_for else ""
                progress.update(task, description=f"{handle.id}: {done or 'importing'}{waiting}")
                await asyncio.wait([result], timeout=POLL_SECONDS)
        return await result

    outcome = run(start_and_follow())
    for imported in outcome.files:
        typer.echo(
            f"{imported.file}: {imported.rows} rows, {imported.size_bytes} bytes, "
            f"sha256 {imported.sha256}, {imported.duration_seconds} s"
        )


@schedules_app.command("apply")
def apply() -> None:
    """Create or update the schedules (idempotent)."""

    async def apply_all() -> None:
        settings = load(RecordsSettings)
        client, temporal = await temporal_client()
        for applied in await apply_schedules(client, temporal.task_queue, settings):
            typer.echo(f"{applied.schedule_id}: {'created' if applied.created else 'updated'}")

    run(apply_all())
