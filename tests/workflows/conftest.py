"""Fixtures of the ProvisionOrder workflow tests."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import pytest
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from starters.provisioning import request_provisioning
from tests.support.provisioning import Handle, Provision


@pytest.fixture
async def provision(env: WorkflowEnvironment, task_queue: str) -> AsyncIterator[Provision]:
    """Starts provisioning (on the test's task queue unless told another); terminates what is
    still running after the test, because a leftover workflow would hold back time skipping
    for the tests after it."""
    handles: list[Handle] = []

    async def start(order_id: str, queue: str = task_queue) -> Handle:
        handle = await request_provisioning(env.client, order_id, task_queue=queue)
        handles.append(handle)
        return handle

    yield start
    for handle in handles:
        with contextlib.suppress(RPCError):
            await handle.terminate("test finished")
