"""Per-vendor rate limits reach the workers of the vendors' task queues, and only those."""

from __future__ import annotations

import dataclasses

import pytest
from temporalio.testing import WorkflowEnvironment

from contracts.task_queues import TaskQueues
from integrations.config import ConfigurationError, TaskQueueRateLimitSettings, load
from workers.dependencies import Integrations
from workers.worker import running_workers


def test_limits_are_read_from_the_vendor_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SF_RATE_LIMIT_PER_SECOND", "20")
    monkeypatch.setenv("WHMCS_RATE_LIMIT_PER_SECOND", "2.5")
    monkeypatch.delenv("FREEBIT_RATE_LIMIT_PER_SECOND", raising=False)

    limits = load(TaskQueueRateLimitSettings)

    assert (limits.salesforce, limits.whmcs, limits.freebit) == (20, 2.5, None)


def test_a_non_positive_limit_stops_start_up(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FREEBIT_RATE_LIMIT_PER_SECOND", "0")
    with pytest.raises(ConfigurationError, match=r"^configuration error: FREEBIT_RATE_LIMIT_PER"):
        load(TaskQueueRateLimitSettings)


async def test_each_vendor_queue_gets_its_own_task_queue_rate_limit(
    env: WorkflowEnvironment, task_queue: str, integrations: Integrations
) -> None:
    limits = TaskQueueRateLimitSettings.model_validate(
        {
            "SF_RATE_LIMIT_PER_SECOND": 20,
            "WHMCS_RATE_LIMIT_PER_SECOND": 2,
            "FREEBIT_RATE_LIMIT_PER_SECOND": 1,
        }
    )
    limited = dataclasses.replace(integrations, rate_limits=limits)
    queues = TaskQueues.for_base(task_queue)

    async with running_workers(env.client, task_queue, limited) as workers:
        applied = {
            worker.task_queue: worker.config().get("max_task_queue_activities_per_second")
            for worker in workers
        }
    assert applied[queues.salesforce] == 20
    assert applied[queues.whmcs] == 2
    assert applied[queues.freebit] == 1
    assert applied[queues.portal] is None  # workflows and database work are not throttled
