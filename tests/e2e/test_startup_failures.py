"""A dependency unreachable at start-up, or a malformed secret, through the real processes:
`portalctl worker` / `portalctl bridge` exit non-zero within a bounded time with exactly one
error line naming the setting and what failed, after a logged retry; no traceback, no
password. A vendor that is down does not stop the worker."""

from __future__ import annotations

import asyncio
import base64
import os
import socket
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from integrations.config import DatabaseSettings
from integrations.startup import STARTUP_EXIT_CODE
from starters.cli.support import CONFIGURATION_EXIT_CODE
from starters.demo.local_services import free_port, fresh_database
from starters.demo.local_vendors import LocalVendors
from starters.demo.portal_processes import (
    BRIDGE_READY,
    NO_OPS_ENDPOINTS,
    PORTALCTL,
    PortalProcess,
    portal_processes,
)
from tests.conftest import DATABASE_ADMIN_URL, TEST_REDIS_URL
from tests.support.process_environment import portal_environment

PASSWORD = "s3cret-Passw0rd-4711"
RETRY_DEADLINE_SECONDS = 3.0
EXIT_WITHIN_SECONDS = 45.0
"""The retry deadline, one attempt's timeout (at least 2 s) and the interpreter's start."""
RETRY_LOGGED = "Start-up dependency not available yet, retrying"


@dataclass(frozen=True)
class Outcome:
    exit_code: int
    output: str
    seconds: float

    @property
    def problem_lines(self) -> list[str]:
        """Lines that report an error or a failure (the retries' warnings do not)."""
        return [
            line
            for line in self.output.splitlines()
            if "error" in line.lower() or "failed" in line.lower()
        ]


async def portalctl(command: str, environment: dict[str, str]) -> Outcome:
    started = time.monotonic()
    process = await asyncio.create_subprocess_exec(
        str(PORTALCTL),
        command,
        env={**os.environ, **NO_OPS_ENDPOINTS, "LOG_FORMAT": "json", **environment},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        output, _ = await asyncio.wait_for(process.communicate(), EXIT_WITHIN_SECONDS)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise AssertionError(
            f"portalctl {command} still running after {EXIT_WITHIN_SECONDS}s"
        ) from None
    assert process.returncode is not None
    return Outcome(process.returncode, output.decode(), time.monotonic() - started)


def assert_one_line(outcome: Outcome, exit_code: int, *words: str) -> str:
    """Exactly one line says what failed, and it names all of `words`."""
    assert outcome.exit_code == exit_code, outcome.output
    assert "Traceback" not in outcome.output, outcome.output
    assert PASSWORD not in outcome.output, outcome.output
    problems = outcome.problem_lines
    assert len(problems) == 1, outcome.output
    for word in words:
        assert word in problems[0], outcome.output
    return problems[0]


@pytest.fixture
def environment(
    dev_env: WorkflowEnvironment, task_queue: str, vendors: LocalVendors, database: DatabaseSettings
) -> dict[str, str]:
    return {
        **portal_environment(dev_env, task_queue, vendors, database, TEST_REDIS_URL),
        "SF_EVENTS_ENABLED": "true",
        "STARTUP_RETRY_DEADLINE": f"{RETRY_DEADLINE_SECONDS}s",
    }


@pytest.fixture
async def empty_database() -> AsyncIterator[str]:
    """A database no process has bootstrapped its secret store in: the seeds are read."""
    async with fresh_database(DATABASE_ADMIN_URL, f"portal_startup_{uuid.uuid4().hex[:8]}") as url:
        yield url


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections and never answers."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        yield int(listener.getsockname()[1])


@pytest.mark.parametrize("command", ["worker", "bridge"])
async def test_database_refusing_connections_stops_after_a_logged_retry(
    environment: dict[str, str], command: str
) -> None:
    port = free_port()
    url = f"postgresql://portal:{PASSWORD}@127.0.0.1:{port}/portal"

    outcome = await portalctl(command, {**environment, "DATABASE_URL": url})

    line = assert_one_line(outcome, STARTUP_EXIT_CODE, "DATABASE_URL", "connection refused")
    assert f"postgresql://portal@127.0.0.1:{port}/portal" in line
    assert RETRY_LOGGED in outcome.output
    assert outcome.seconds >= RETRY_DEADLINE_SECONDS


async def test_database_authentication_failure_stops_at_once(
    environment: dict[str, str], database: DatabaseSettings
) -> None:
    url = f"{database.url} user=no_such_role_{uuid.uuid4().hex[:6]} password={PASSWORD}"

    outcome = await portalctl("worker", {**environment, "DATABASE_URL": url})

    line = assert_one_line(outcome, STARTUP_EXIT_CODE, "DATABASE_URL", "authentication failed")
    assert "no_such_role_" in line
    assert RETRY_LOGGED not in outcome.output


async def test_database_that_never_answers_times_out(
    environment: dict[str, str], silent_port: int
) -> None:
    url = f"postgresql://portal:{PASSWORD}@127.0.0.1:{silent_port}/portal"

    outcome = await portalctl("worker", {**environment, "DATABASE_URL": url})

    assert_one_line(outcome, STARTUP_EXIT_CODE, "DATABASE_URL", "timed out")


@pytest.mark.parametrize("command", ["worker", "bridge"])
async def test_temporal_refusing_connections_stops_after_a_logged_retry(
    environment: dict[str, str], command: str
) -> None:
    address = f"127.0.0.1:{free_port()}"

    outcome = await portalctl(command, {**environment, "TEMPORAL_ADDRESS": address})

    assert_one_line(outcome, STARTUP_EXIT_CODE, "TEMPORAL_ADDRESS", address, "connection refused")
    assert RETRY_LOGGED in outcome.output


async def test_temporal_tls_against_a_plaintext_server_names_tls(
    environment: dict[str, str],
) -> None:
    outcome = await portalctl("bridge", {**environment, "TEMPORAL_TLS": "true"})

    assert_one_line(outcome, STARTUP_EXIT_CODE, "TEMPORAL_ADDRESS", "TLS")


async def test_redis_refusing_the_credentials_stops_the_bridge(
    environment: dict[str, str],
) -> None:
    host = TEST_REDIS_URL.split("://", 1)[1]
    url = f"redis://portal:{PASSWORD}@{host}"  # no such ACL user

    outcome = await portalctl("bridge", {**environment, "REDIS_URL": url})

    assert_one_line(outcome, STARTUP_EXIT_CODE, "REDIS_URL", "authentication failed")


async def test_redis_unreachable_is_reported_and_the_worker_starts_with_its_fallbacks(
    environment: dict[str, str], tmp_path: Path
) -> None:
    url = f"redis://:{PASSWORD}@127.0.0.1:{free_port()}/0"
    down = {**environment, "REDIS_URL": url, "SF_LOGIN_URL": f"https://127.0.0.1:{free_port()}"}

    with portal_processes(down, tmp_path, bridge=False):  # a vendor down does not stop it
        pass

    log = (tmp_path / "worker.log").read_text()
    assert "Redis not available at start-up" in log
    assert PASSWORD not in log


async def test_redis_unreachable_is_reported_and_the_bridge_starts_with_its_fallbacks(
    environment: dict[str, str], tmp_path: Path
) -> None:
    url = f"redis://:{PASSWORD}@127.0.0.1:{free_port()}/0"
    bridge = PortalProcess(
        "bridge", {**environment, "REDIS_URL": url}, tmp_path / "bridge.log", BRIDGE_READY
    )

    await asyncio.to_thread(bridge.start)
    bridge.stop()

    log = bridge.log_path.read_text()
    assert "Redis not available at start-up" in log
    assert PASSWORD not in log


@pytest.mark.parametrize(
    ("setting", "value", "problem"),
    [
        ("SF_PRIVATE_KEY_BASE64", "not*base64!", "not valid base64"),
        ("SF_PRIVATE_KEY_BASE64", base64.b64encode(b"no key").decode(), "not an unencrypted"),
        ("SF_PRIVATE_KEY_PATH", "/nonexistent/portal/jwt.key", "cannot read"),
        ("WHMCS_API_SECRET", f"{PASSWORD}\n", "whitespace"),
        ("SECRETS_MASTER_KEY", PASSWORD, "base64 of 32"),
    ],
)
async def test_malformed_secret_names_its_setting(
    environment: dict[str, str], empty_database: str, setting: str, value: str, problem: str
) -> None:
    malformed = {**environment, "DATABASE_URL": empty_database, setting: value}

    outcome = await portalctl("worker", malformed)  # SF_PRIVATE_KEY_BASE64 wins over the path

    assert_one_line(outcome, CONFIGURATION_EXIT_CODE, setting, problem)
