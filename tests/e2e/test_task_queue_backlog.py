"""Workflows waiting on a task queue no worker polls show as its backlog, in `portalctl queues`
and in the worker's /metrics gauges (DescribeTaskQueue with stats, on the dev server)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import uuid

from prometheus_client import REGISTRY
from temporalio.testing import WorkflowEnvironment

from integrations.task_queue_backlog import (
    TaskType,
    backlog_gauges,
    describe_backlog,
)
from starters.demo.portal_processes import PORTALCTL
from tests.support.polling import wait_until

WAITING = 3
VENDOR_SUFFIXES = ("-salesforce", "-whmcs", "-freebit", "-sftp")


async def start_waiting_workflows(dev_env: WorkflowEnvironment, task_queue: str) -> None:
    for _ in range(WAITING):
        await dev_env.client.start_workflow(
            "NoWorkerPollsThis", id=f"backlog-{uuid.uuid4()}", task_queue=task_queue
        )

    async def counted() -> bool:
        described = await describe_backlog(dev_env.client, task_queue, TaskType.WORKFLOW)
        return described.backlog == WAITING

    await wait_until(counted, f"{WAITING} workflow tasks in the backlog")


async def test_portalctl_queues_shows_each_queues_backlog(
    dev_env: WorkflowEnvironment, task_queue: str
) -> None:
    await start_waiting_workflows(dev_env, task_queue)
    environment = {
        **os.environ,
        "TEMPORAL_ADDRESS": dev_env.client.service_client.config.target_host,
        "TEMPORAL_TASK_QUEUE": task_queue,
    }

    completed = await asyncio.to_thread(
        subprocess.run,
        [str(PORTALCTL), "queues", "--json"],
        env=environment,
        capture_output=True,
        text=True,
        check=False,
    )

    assert completed.returncode == 0, completed.stderr
    rows = {(row["task_queue"], row["task_type"]): row for row in json.loads(completed.stdout)}
    assert set(rows) == {
        (task_queue, "workflow"),
        *((f"{task_queue}{suffix}", "activity") for suffix in ("", *VENDOR_SUFFIXES)),
    }
    assert rows[(task_queue, "workflow")]["backlog"] == WAITING
    assert rows[(task_queue, "workflow")]["backlog_age_seconds"] > 0
    assert rows[(f"{task_queue}-whmcs", "activity")]["backlog"] == 0


async def test_the_worker_exports_the_backlog_on_metrics(
    dev_env: WorkflowEnvironment, task_queue: str
) -> None:
    await start_waiting_workflows(dev_env, task_queue)
    labels = {"task_queue": task_queue, "task_type": "workflow"}

    async with backlog_gauges(dev_env.client, task_queue):

        def exported() -> bool:
            return REGISTRY.get_sample_value("portal_task_queue_backlog", labels) == WAITING

        await wait_until(exported, "the backlog gauge is set")

    age = REGISTRY.get_sample_value("portal_task_queue_backlog_age_seconds", labels)
    assert age is not None
    assert age > 0
