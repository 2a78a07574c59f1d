"""Bare workflows for `temporal_cost.py`: n no-op activities, or local activities, in sequence.
In a module of its own because the sandbox re-imports a workflow's module for every run, as it
does the real ones."""

from __future__ import annotations

from datetime import timedelta

from temporalio import activity, workflow


@activity.defn
async def noop(step: int) -> int:
    return step


@workflow.defn
class NoopActivities:
    @workflow.run
    async def run(self, activities: int) -> int:
        for step in range(activities):
            await workflow.execute_activity(
                noop, step, start_to_close_timeout=timedelta(seconds=30)
            )
        return activities


@workflow.defn
class NoopLocalActivities:
    @workflow.run
    async def run(self, activities: int) -> int:
        for step in range(activities):
            await workflow.execute_local_activity(
                noop, step, start_to_close_timeout=timedelta(seconds=30)
            )
        return activities
