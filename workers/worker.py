"""The worker: every workflow and activity, on the base task queue and one queue per vendor."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import timedelta
from typing import Any

import structlog
from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.worker import Worker, WorkerDeploymentConfig

from activities.error_mapping import IntegrationErrorInterceptor
from activities.metrics import ActivityMetricsInterceptor
from contracts.task_queues import TaskQueues
from workers.activities import activities_by_queue
from workers.dependencies import Integrations
from workflows.registry import WORKFLOWS

log = structlog.get_logger(__name__)

SALESFORCE_THREADS = 16
"""simple-salesforce is synchronous: its activities run in this many threads."""
SFTP_IMPORTS = 2
"""paramiko is synchronous too: at most this many call-record files load at once."""
SFTP_HEARTBEAT_THROTTLE = timedelta(seconds=2)
"""Import heartbeats carry the bytes read: `portalctl records import` shows them as a bar."""


def create_workers(
    client: Client,
    task_queue: str,
    integrations: Integrations,
    executor: ThreadPoolExecutor,
    deployment: WorkerDeploymentConfig | None = None,
) -> list[Worker]:
    # Temporal's adapters append the workflow/activity info to every message; structlog
    # already carries it as fields, and the seed's messages must stay greppable verbatim.
    workflow.logger.workflow_info_on_message = False
    activity.logger.activity_info_on_message = False
    queues = TaskQueues.for_base(task_queue)
    limits = integrations.rate_limits
    options: dict[str, dict[str, Any]] = {
        "portal": {"workflows": WORKFLOWS},
        "salesforce": {
            "activity_executor": executor,
            "max_concurrent_activities": SALESFORCE_THREADS,
            "max_task_queue_activities_per_second": limits.salesforce,
        },
        "whmcs": {"max_task_queue_activities_per_second": limits.whmcs},
        "freebit": {"max_task_queue_activities_per_second": limits.freebit},
        "sftp": {
            "activity_executor": executor,
            "max_concurrent_activities": SFTP_IMPORTS,
            "max_heartbeat_throttle_interval": SFTP_HEARTBEAT_THROTTLE,
        },
    }
    return [
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


@asynccontextmanager
async def running_workers(
    client: Client,
    task_queue: str,
    integrations: Integrations,
    deployment: WorkerDeploymentConfig | None = None,
) -> AsyncIterator[list[Worker]]:
    """Run the workers in the background for the duration of the block."""
    with ThreadPoolExecutor(
        SALESFORCE_THREADS + SFTP_IMPORTS, thread_name_prefix="activity"
    ) as executor:
        async with AsyncExitStack() as stack:
            workers = create_workers(client, task_queue, integrations, executor, deployment)
            for worker in workers:
                await stack.enter_async_context(worker)
            yield workers


async def run_until_cancelled(
    client: Client,
    task_queue: str,
    integrations: Integrations,
    deployment: WorkerDeploymentConfig | None = None,
) -> None:
    async with running_workers(client, task_queue, integrations, deployment):
        log.info("Worker started", task_queue=task_queue, namespace=client.namespace)
        await asyncio.Event().wait()
