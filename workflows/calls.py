"""Calling an activity by its contract (`contracts.activity_type.ActivityType`), so workflow
code never imports activity code and the type checker still sees argument and result."""

from __future__ import annotations

from typing import Any, TypeVar, cast

from temporalio import workflow

from contracts.activity_type import ActivityType

ArgT = TypeVar("ArgT")
ResultT = TypeVar("ResultT")


def _args(arg: object) -> list[Any]:
    return [] if arg is None else [arg]


async def execute(activity: ActivityType[ArgT, ResultT], arg: ArgT, **options: Any) -> ResultT:
    """`workflow.execute_activity` with the activity's name and result type."""
    result = await workflow.execute_activity(
        activity.name, args=_args(arg), result_type=activity.result_type, **options
    )
    return cast(ResultT, result)


async def execute_local(
    activity: ActivityType[ArgT, ResultT], arg: ArgT, **options: Any
) -> ResultT:
    """`workflow.execute_local_activity` with the activity's name and result type."""
    result = await workflow.execute_local_activity(
        activity.name, args=_args(arg), result_type=activity.result_type, **options
    )
    return cast(ResultT, result)
