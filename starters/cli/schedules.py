"""`portalctl schedules ...`: the Temporal Schedules of this system."""

from __future__ import annotations

import os

import typer

from starters.cli.support import run, temporal_client
from starters.schedules import apply_schedules, system_schedules

schedules_app = typer.Typer(help="Temporal Schedules of this system.", no_args_is_help=True)


@schedules_app.command("apply")
def apply() -> None:
    """Create or update every schedule (idempotent): the call records import and the health
    checks (`health-sftp` only with SFTP_HOST set; removed when it is unset)."""

    async def apply_all() -> None:
        client, temporal = await temporal_client()
        schedules = system_schedules(
            temporal.task_queue, sftp_configured=bool(os.environ.get("SFTP_HOST"))
        )
        for applied in await apply_schedules(client, schedules):
            typer.echo(f"{applied.schedule_id}: {applied.outcome}")

    run(apply_all())
