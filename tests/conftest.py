from __future__ import annotations

import dataclasses
import io
import logging
import os
import signal
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
import structlog
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from activities.policies import PolicyActivities
from emulators.sftp import SftpEmulator
from integrations.config import DatabaseSettings, LogFormat, LoggingSettings, RedisSettings
from integrations.database import apply_migrations
from integrations.freebit.token_cache import TOKEN_KEY as FREEBIT_TOKEN_KEY
from integrations.logging import configure_logging
from integrations.redis_connection import redis_client
from starters.demo.local_services import fresh_database
from starters.demo.local_vendors import LocalVendors, running_vendor_emulators
from tests.support.openssh import OpenSshServer, running_openssh
from tests.support.temporal import LOCAL, TIME_SKIPPING, deployment_for, workflow_environment
from workers.dependencies import Integrations, open_integrations
from workers.worker import running_workers

DATABASE_ADMIN_URL = os.environ.get(
    "TEST_DATABASE_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
TEST_REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
CLIENT_TIMEOUT_MS = 1000
"""Short, so that the emulators' timeout faults cost the suite little wall time."""


def pytest_configure(config: pytest.Config) -> None:
    """The portalctl processes the tests start and stop with Ctrl-C (SIGINT) must take it,
    however pytest was launched: a shell's background job ignores SIGINT, and a child would
    inherit that; a handled signal is reset to its default for the child."""
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--workflow-environment",
        default=TIME_SKIPPING,
        help="server for workflow tests: time-skipping (default), local (dev server) or the "
        "host:port of an existing server",
    )
    parser.addoption(
        "--record-histories",
        action="store_true",
        help="write the end-to-end tests' workflow histories to tests/replay/histories/",
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
    """A new database on the machine's PostgreSQL (TEST_DATABASE_ADMIN_URL), migrated."""
    name = f"portal_test_{uuid.uuid4().hex[:12]}"
    async with fresh_database(DATABASE_ADMIN_URL, name) as url:
        async with await psycopg.AsyncConnection.connect(url) as connection:
            await apply_migrations(connection)
        yield DatabaseSettings(DATABASE_URL=url)


@pytest.fixture(scope="session")
def vendor_emulators(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalVendors]:
    work_dir = tmp_path_factory.mktemp("vendors")
    with running_vendor_emulators(work_dir, client_timeout_ms=CLIENT_TIMEOUT_MS) as vendors:
        yield vendors


@pytest.fixture
async def vendors(vendor_emulators: LocalVendors, database: DatabaseSettings) -> LocalVendors:
    """The emulators, emptied of data and faults for this test; no id mappings, no journaled
    AddOrder (the emulators number their records from the start again), and no cached
    Freebit authKey (the emulator forgot the ones it issued)."""
    vendor_emulators.reset()
    async with await psycopg.AsyncConnection.connect(database.url) as connection:
        await connection.execute("TRUNCATE id_mappings, whmcs_order_journal")
    async with redis_client(TEST_REDIS_URL) as redis:
        await redis.delete(FREEBIT_TOKEN_KEY)
    return vendor_emulators


@pytest.fixture(scope="session")
def sftp_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SftpEmulator]:
    with SftpEmulator(tmp_path_factory.mktemp("sftp")) as emulator:
        yield emulator


@pytest.fixture
async def sftp(sftp_emulator: SftpEmulator, database: DatabaseSettings) -> SftpEmulator:
    """The SFTP emulator without files or faults, and no imported call records."""
    sftp_emulator.reset()
    async with await psycopg.AsyncConnection.connect(database.url) as connection:
        await connection.execute(
            "TRUNCATE call_records_talk, call_records_sms, call_record_imports"
        )
    return sftp_emulator


@pytest.fixture(scope="session")
def openssh_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OpenSshServer]:
    """A real OpenSSH sshd with SFTP for the session (skipped when sshd is not installed)."""
    with running_openssh(tmp_path_factory.mktemp("openssh")) as server:
        yield server


@pytest.fixture
def openssh(openssh_server: OpenSshServer) -> OpenSshServer:
    """The sshd with its generated client key authorized, its host key trusted, no files."""
    openssh_server.reset()
    return openssh_server


@pytest.fixture(scope="session")
async def integrations(
    vendor_emulators: LocalVendors, database: DatabaseSettings
) -> AsyncIterator[Integrations]:
    settings = vendor_emulators.worker_settings(database, RedisSettings(REDIS_URL=TEST_REDIS_URL))
    async with open_integrations(settings) as integrations:
        yield integrations


@pytest.fixture
def task_queue() -> str:
    return f"test-{uuid.uuid4()}"


@pytest.fixture
def worker_policies(integrations: Integrations) -> PolicyActivities:
    """The policy settings of the test's worker; a test module overrides this fixture to set
    its own, as an operator sets them where the worker runs."""
    return integrations.policies


@pytest.fixture
async def dev_worker(
    dev_env: WorkflowEnvironment,
    task_queue: str,
    integrations: Integrations,
    worker_policies: PolicyActivities,
    vendors: LocalVendors,
) -> AsyncIterator[None]:
    """The worker on the dev server, for end-to-end tests."""
    configured = dataclasses.replace(integrations, policies=worker_policies)
    async with running_workers(dev_env.client, task_queue, configured, deployment_for(task_queue)):
        yield


@pytest.fixture
async def worker(
    env: WorkflowEnvironment,
    task_queue: str,
    integrations: Integrations,
    worker_policies: PolicyActivities,
    vendors: LocalVendors,
) -> AsyncIterator[None]:
    configured = dataclasses.replace(integrations, policies=worker_policies)
    async with running_workers(env.client, task_queue, configured, deployment_for(task_queue)):
        yield


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    """The production logging pipeline, in JSON, into a buffer for this test."""
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    buffer = io.StringIO()
    configure_logging(LoggingSettings(format=LogFormat.JSON), stream=buffer)
    yield buffer
    root.handlers[:] = saved_handlers
    root.setLevel(saved_level)
    structlog.reset_defaults()


SaveHistory = Callable[[WorkflowHandle[Any, Any], str], Awaitable[None]]
HISTORIES = Path(__file__).parent / "replay" / "histories"


@pytest.fixture
def save_history(request: pytest.FixtureRequest) -> SaveHistory:
    """Writes a workflow's history for the replay tests when run with --record-histories."""

    async def save(handle: WorkflowHandle[Any, Any], name: str) -> None:
        if request.config.getoption("--record-histories"):
            history = await handle.fetch_history()
            (HISTORIES / f"{name}.json").write_text(history.to_json())

    return save
