"""How far behind the workers are: each task queue's approximate backlog, from Temporal's
DescribeTaskQueue with `report_stats`
(https://docs.temporal.io/develop/worker-performance#task-queue-metrics: "approximate",
refreshed by the server every few seconds, summed over every Worker Deployment Version).

The backlog's age is how long its oldest task has waited: the schedule-to-start latency the
next task handed to a worker will have. Exported on the worker's /metrics as
`portal_task_queue_backlog{task_queue, task_type}`,
`portal_task_queue_backlog_age_seconds{...}` and the add / dispatch rates (tasks per second),
and shown by `portalctl queues`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum

import structlog
from prometheus_client import Gauge
from temporalio.api.enums.v1 import TaskQueueKind, TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client
from temporalio.service import RPCError

from contracts.task_queues import TaskQueues

log = structlog.get_logger(__name__)

REFRESH_SECONDS = 15.0
"""How often a worker refreshes its backlog gauges: the server's own figures are no fresher."""
_LABELS = ["task_queue", "task_type"]
BACKLOG = Gauge(
    "portal_task_queue_backlog",
    "Tasks waiting in the task queue for a worker (Temporal's approximate backlog count).",
    _LABELS,
)
BACKLOG_AGE = Gauge(
    "portal_task_queue_backlog_age_seconds",
    "How long the oldest waiting task has waited: the next task's schedule-to-start latency.",
    _LABELS,
)
ADD_RATE = Gauge(
    "portal_task_queue_tasks_add_rate",
    "Tasks added to the task queue per second (Temporal's estimate).",
    _LABELS,
)
DISPATCH_RATE = Gauge(
    "portal_task_queue_tasks_dispatch_rate",
    "Tasks handed to workers per second (Temporal's estimate).",
    _LABELS,
)


class TaskType(StrEnum):
    WORKFLOW = "workflow"
    ACTIVITY = "activity"


_PROTO_TYPES = {
    TaskType.WORKFLOW: TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
    TaskType.ACTIVITY: TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
}


@dataclass(frozen=True)
class QueueBacklog:
    task_queue: str
    task_type: TaskType
    backlog: int
    backlog_age: timedelta
    add_rate: float
    dispatch_rate: float


def described_queues(base: str) -> list[tuple[str, TaskType]]:
    """Every queue the worker polls, with the task types it carries: workflows only on the
    base queue, activities on all."""
    queues = TaskQueues.for_base(base)
    return [(queues.portal, TaskType.WORKFLOW)] + [
        (name, TaskType.ACTIVITY) for name in queues.model_dump().values()
    ]


async def describe_backlog(client: Client, task_queue: str, task_type: TaskType) -> QueueBacklog:
    described = await client.workflow_service.describe_task_queue(
        DescribeTaskQueueRequest(
            namespace=client.namespace,
            task_queue=TaskQueue(name=task_queue, kind=TaskQueueKind.TASK_QUEUE_KIND_NORMAL),
            task_queue_type=_PROTO_TYPES[task_type],
            report_stats=True,
        )
    )
    stats = described.stats
    return QueueBacklog(
        task_queue=task_queue,
        task_type=task_type,
        backlog=stats.approximate_backlog_count,
        backlog_age=stats.approximate_backlog_age.ToTimedelta(),
        add_rate=stats.tasks_add_rate,
        dispatch_rate=stats.tasks_dispatch_rate,
    )


async def describe_backlogs(
    client: Client, queues: Iterable[tuple[str, TaskType]]
) -> list[QueueBacklog]:
    return list(
        await asyncio.gather(*(describe_backlog(client, name, kind) for name, kind in queues))
    )


def record(backlogs: Iterable[QueueBacklog]) -> None:
    for backlog in backlogs:
        labels = (backlog.task_queue, backlog.task_type.value)
        BACKLOG.labels(*labels).set(backlog.backlog)
        BACKLOG_AGE.labels(*labels).set(backlog.backlog_age.total_seconds())
        ADD_RATE.labels(*labels).set(backlog.add_rate)
        DISPATCH_RATE.labels(*labels).set(backlog.dispatch_rate)


async def _keep_recorded(client: Client, base: str) -> None:
    queues = described_queues(base)
    failing = False
    while True:
        try:
            record(await describe_backlogs(client, queues))
            failing = False
        except RPCError as error:
            if not failing:
                log.warning("Task queue backlog not described; gauges kept", error=error.message)
            failing = True
        await asyncio.sleep(REFRESH_SECONDS)


@contextlib.asynccontextmanager
async def backlog_gauges(client: Client, base: str) -> AsyncIterator[None]:
    """Keep the backlog gauges of the queues of `base` current during the block."""
    refresher = asyncio.create_task(_keep_recorded(client, base), name="task queue backlog")
    try:
        yield
    finally:
        refresher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await refresher
