"""`portalctl queues`: each task queue's backlog, as the worker's /metrics exports it."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from temporalio.service import RPCError

from integrations.task_queue_backlog import QueueBacklog, describe_backlogs, described_queues
from starters.cli.support import fail, run, temporal_client

HEADER = ("TASK QUEUE", "TYPE", "BACKLOG", "OLDEST WAITING", "ADDED/S", "DISPATCHED/S")


def queues(
    as_json: Annotated[bool, typer.Option("--json", help="print the backlogs as JSON")] = False,
) -> None:
    """Approximate backlog of each task queue (TEMPORAL_TASK_QUEUE and its vendor queues):
    tasks waiting for a worker, how long the oldest has waited (the next task's
    schedule-to-start latency), tasks added and dispatched per second. A backlog that keeps
    growing means too few workers, or a vendor queue's rate limit at work."""

    async def describe() -> list[QueueBacklog]:
        client, temporal = await temporal_client()
        try:
            return await describe_backlogs(client, described_queues(temporal.task_queue))
        except RPCError as error:
            raise fail(f"cannot describe the task queues: {error.message}") from None

    backlogs = run(describe())
    if as_json:
        typer.echo(json.dumps([_as_json(backlog) for backlog in backlogs], indent=2))
        return
    rows = [HEADER, *(_row(backlog) for backlog in backlogs)]
    widths = [max(len(row[column]) for row in rows) for column in range(len(HEADER))]
    for row in rows:
        typer.echo("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)))


def _row(backlog: QueueBacklog) -> tuple[str, ...]:
    return (
        backlog.task_queue,
        backlog.task_type.value,
        str(backlog.backlog),
        f"{backlog.backlog_age.total_seconds():.1f}s",
        f"{backlog.add_rate:.2f}",
        f"{backlog.dispatch_rate:.2f}",
    )


def _as_json(backlog: QueueBacklog) -> dict[str, object]:
    return {
        "task_queue": backlog.task_queue,
        "task_type": backlog.task_type.value,
        "backlog": backlog.backlog,
        "backlog_age_seconds": backlog.backlog_age.total_seconds(),
        "tasks_add_rate": backlog.add_rate,
        "tasks_dispatch_rate": backlog.dispatch_rate,
    }
