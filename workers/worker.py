"""The worker: every workflow and activity, on the base task queue and one queue per vendor."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AsyncExitStack, asynccontextmanager

import structlog
from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.worker import Worker, WorkerDeploymentConfig

from activities.error_mapping import IntegrationErrorInterceptor
from activities.metrics import ActivityMetricsInterceptor
from contracts.task_queues import TaskQueues
from integrations.task_queue_backlog import backlog_gauges
from workers.dependencies import Integrations
from workers.deployment import become_current_if_first
from workers.queues import ACTIVITY_THREADS, activities_by_queue, options_by_queue

log = structlog.get_logger(__name__)


@asynccontextmanager
async def running_workers(
    client: Client,
    task_queue: str,
    integrations: Integrations,
    deployment: WorkerDeploymentConfig | None = None,
) -> AsyncIterator[list[Worker]]:
    """Run the workers in the background for the duration of the block. Versioned with
    `deployment`: the first build of a deployment makes itself current (workers/deployment.py).
    """
    # Temporal's adapters append the workflow/activity info to every message; structlog
    # already carries it as fields, and the seed's messages must stay greppable verbatim.
    workflow.logger.workflow_info_on_message = False
    activity.logger.activity_info_on_message = False
    queues = TaskQueues.for_base(task_queue)
    # A finalizer that imports (a ResourceWarning's `warnings`) while the sandbox imports the
    # workflows to validate them fails that import with KeyError(<thread id>) before Python
    # 3.12 (temporalio/sdk-python#585): collect the garbage first.
    gc.collect()
    with ThreadPoolExecutor(ACTIVITY_THREADS, thread_name_prefix="activity") as threads:
        options = options_by_queue(integrations, threads)
        workers = [
            Worker(
                client,
                task_queue=getattr(queues, queue),
                activities=activities,
                interceptors=[IntegrationErrorInterceptor(), ActivityMetricsInterceptor()],
                deployment_config=deployment,
                **options[queue],
            )
            for queue, activities in activities_by_queue(integrations).items()
        ]
        async with AsyncExitStack() as stack:
            for worker in workers:
                await stack.enter_async_context(worker)
            if deployment is not None:
                await become_current_if_first(
                    client, deployment.version, queues.model_dump().values()
                )
            yield workers


async def run_until_cancelled(
    client: Client,
    task_queue: str,
    integrations: Integrations,
    deployment: WorkerDeploymentConfig | None = None,
) -> None:
    async with (
        running_workers(client, task_queue, integrations, deployment),
        backlog_gauges(client, task_queue),
    ):
        log.info("Worker started", task_queue=task_queue, namespace=client.namespace)
        await asyncio.Event().wait()
