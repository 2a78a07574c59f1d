"""The worker's sandbox (`workflows.registry.WORKFLOW_RUNNER`) still fails the task of a
workflow that reads the clock or does I/O, although it passes the leaf modules through."""

from __future__ import annotations

import uuid

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from contracts.provisioning import OrderRef
from tests.support.nondeterministic_workflows import ReadsAFile, ReadsTheClock
from tests.support.polling import wait_until
from workflows.registry import WORKFLOW_RUNNER


async def first_task_failure(handle: WorkflowHandle[object, str]) -> str:
    failures: list[str] = []

    async def task_failed() -> bool:
        async for event in handle.fetch_history_events():
            if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED:
                failures.append(event.workflow_task_failed_event_attributes.failure.message)
        return bool(failures)

    await wait_until(task_failed, "the workflow task failed")
    return failures[0]


@pytest.mark.parametrize(
    ("workflow", "refused"),
    [(ReadsTheClock, "datetime.datetime.now"), (ReadsAFile, "pathlib.Path.read_text")],
)
async def test_the_sandbox_fails_the_task(
    env: WorkflowEnvironment, task_queue: str, workflow: type, refused: str
) -> None:
    async with Worker(
        env.client, task_queue=task_queue, workflows=[workflow], workflow_runner=WORKFLOW_RUNNER
    ):
        handle = await env.client.start_workflow(
            workflow.run,  # type: ignore[attr-defined]
            OrderRef(order_id="8015g0000000001AAA"),
            id=f"sandbox-{uuid.uuid4()}",
            task_queue=task_queue,
        )
        try:
            assert refused in await first_task_failure(handle)
        finally:
            await handle.terminate("test finished")
