"""An activity as a workflow sees it: its registered name with its argument and result types.

Workflows call activities through these, so they never import the activities' code (and,
through it, the vendor clients) into the sandbox; the activities register under the same
names, and a test checks that the worker registers every one with matching types.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

ArgT = TypeVar("ArgT")
ResultT = TypeVar("ResultT")


@dataclass(frozen=True)
class ActivityType(Generic[ArgT, ResultT]):
    name: str
    argument_type: type[ArgT]
    result_type: type[ResultT]
