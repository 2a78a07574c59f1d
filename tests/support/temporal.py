"""Temporal environments for tests: the time-skipping server, the local dev server, or an
existing server (`--workflow-environment=host:port`)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from temporalio.client import Client
from temporalio.common import WorkerDeploymentVersion
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import WorkerDeploymentConfig

from integrations.temporal import (
    add_search_attributes,
    bundled_binary,
    register_search_attributes,
)
from starters.demo.local_services import start_dev_server
from workflows import search_attributes

TIME_SKIPPING = "time-skipping"
LOCAL = "local"


@asynccontextmanager
async def workflow_environment(kind: str) -> AsyncIterator[WorkflowEnvironment]:
    if kind == TIME_SKIPPING:
        env = await WorkflowEnvironment.start_time_skipping(
            data_converter=pydantic_data_converter,
            test_server_existing_path=bundled_binary("temporal-test-server"),
        )
    elif kind == LOCAL:
        env = await start_dev_server()
    else:
        client = await Client.connect(kind, data_converter=pydantic_data_converter)
        env = WorkflowEnvironment.from_client(client)
    try:
        if kind == TIME_SKIPPING:  # the test server cannot list search attributes
            await add_search_attributes(env.client, search_attributes.ALL)
        elif kind != LOCAL:
            await register_search_attributes(env.client, search_attributes.ALL)
        yield env
    finally:
        await env.shutdown()


def deployment_for(task_queue: str) -> WorkerDeploymentConfig:
    """Versioned workers, as production runs them, in a Worker Deployment of the task queue's
    own: its first build makes itself current (the time-skipping server ignores versions)."""
    version = WorkerDeploymentVersion(deployment_name=f"test-{task_queue}", build_id="test")
    return WorkerDeploymentConfig(version=version, use_worker_versioning=True)
