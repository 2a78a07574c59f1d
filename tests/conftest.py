from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from temporalio.testing import WorkflowEnvironment

from integrations.config import DatabaseSettings
from tests.support.databases import throwaway_database
from tests.support.temporal import LOCAL, TIME_SKIPPING, workflow_environment


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--workflow-environment",
        default=TIME_SKIPPING,
        help="server for workflow tests: time-skipping (default), local (dev server) or the "
        "host:port of an existing server",
    )


@pytest.fixture(scope="session")
async def env(request: pytest.FixtureRequest) -> AsyncIterator[WorkflowEnvironment]:
    """The switchable environment for workflow logic tests."""
    async with workflow_environment(request.config.getoption("--workflow-environment")) as env:
        yield env


@pytest.fixture(scope="session")
async def dev_env(request: pytest.FixtureRequest) -> AsyncIterator[WorkflowEnvironment]:
    """A full server (the local dev server unless an existing one is named) for end-to-end."""
    choice = request.config.getoption("--workflow-environment")
    async with workflow_environment(LOCAL if choice == TIME_SKIPPING else choice) as env:
        yield env


@pytest.fixture(scope="session")
async def database() -> AsyncIterator[DatabaseSettings]:
    async with throwaway_database() as settings:
        yield settings
