"""The settings a portal process (worker, bridge, `portalctl`) runs with against the test's
servers, as an operator exports them."""

from __future__ import annotations

from collections.abc import Mapping

import pytest
from temporalio.testing import WorkflowEnvironment

from integrations.config import DatabaseSettings
from starters.demo.local_vendors import LocalVendors
from tests.support.temporal import deployment_for


def portal_environment(
    dev_env: WorkflowEnvironment,
    task_queue: str,
    vendors: LocalVendors,
    database: DatabaseSettings,
    redis_url: str,
) -> dict[str, str]:
    """The emulated vendors, the dev server on the test's task queue (its workers in the test's
    own Worker Deployment, as `deployment_for` puts in-process ones), PostgreSQL and Redis."""
    return {
        **vendors.environment(),
        "TEMPORAL_ADDRESS": dev_env.client.service_client.config.target_host,
        "TEMPORAL_TASK_QUEUE": task_queue,
        "TEMPORAL_DEPLOYMENT_NAME": deployment_for(task_queue).version.deployment_name,
        "DATABASE_URL": database.url,
        "REDIS_URL": redis_url,
    }


def export(monkeypatch: pytest.MonkeyPatch, environment: Mapping[str, str]) -> None:
    """Set `environment` in this process for the test, as a shell's `export` does before
    `portalctl` runs in it."""
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
