"""`portalctl emulators` as a developer runs it, a process of its own: what it prints is all a
`portalctl worker` and `portalctl bridge` need (they run on those exports alone, plus the
task queue and deployment name of this test), `portalctl emulators seed --approve` gives them
orders to provision, and the sftp-ssh rotation completes against it, its SFTP administrator
being a person who edits the printed authorized_keys file."""

from __future__ import annotations

import asyncio
import os
import re
import shlex
import signal
import subprocess
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment

from contracts.provisioning import ProvisionOrderResult, ProvisionOutcome, provision_workflow_id
from contracts.rotation import CredentialKind, HumanStep, RotationPhase, RotationStatus
from integrations.config import DatabaseSettings, SftpSettings
from integrations.errors import AuthenticationError
from integrations.sftp import connect
from starters.demo.portal_processes import PORTALCTL, portal_processes
from starters.demo.processes import stop_process
from starters.rotation import rotation_status
from tests.conftest import DATABASE_ADMIN_URL, TEST_REDIS_URL
from tests.support.cli import run_process
from tests.support.polling import wait_until
from tests.support.secret_store import end_rotations, own_database
from workflows import search_attributes
from workflows.provision_order import ProvisionOrder

READY_LINE = "# emulators running"
START_TIMEOUT_SECONDS = 60
STOP_TIMEOUT_SECONDS = 15
WORKFLOW_TIMEOUT_SECONDS = 60
NEEDED_BY_WORKER_AND_BRIDGE = {
    "DATABASE_URL",
    "REDIS_URL",
    "TEMPORAL_ADDRESS",
    "SF_EVENTS_ENABLED",
    "FREEBIT_PLAN_CODES",
    "SECRETS_MASTER_KEY",
    "SF_LOGIN_URL",
    "WHMCS_API_URL",
    "FREEBIT_BASE_URL",
    "SFTP_HOST",
    "SFTP_PRIVATE_KEY_PATH",
}


@dataclass(frozen=True)
class StandaloneEmulators:
    exports: dict[str, str]
    """The settings it printed, as the shell reads the export lines."""
    comments: list[str]
    authorized_keys: Path


@contextmanager
def running_emulators(
    work_dir: Path, database: DatabaseSettings, temporal_address: str
) -> Iterator[StandaloneEmulators]:
    """`portalctl emulators` on free ports, until the block ends (Ctrl-C)."""
    command = [
        str(PORTALCTL),
        "emulators",
        f"--work-dir={work_dir}",
        *(
            f"--{name}-port=0"
            for name in ("salesforce", "salesforce-pubsub", "whmcs", "freebit", "sftp")
        ),
        f"--database-url={database.url}",
        f"--redis-url={TEST_REDIS_URL}",
        f"--temporal-address={temporal_address}",
    ]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=os.environ.copy())
    try:
        lines = _lines_until_ready(process)
        exports = dict(
            shlex.split(line.removeprefix("export "))[0].split("=", 1)
            for line in lines
            if line.startswith("export ")
        )
        comments = [line for line in lines if line.startswith("#")]
        [keys_line] = [line for line in comments if "authorized_keys" in line]
        yield StandaloneEmulators(exports, comments, Path(keys_line.rsplit(" ", 1)[1]))
    finally:
        stop_process(process, STOP_TIMEOUT_SECONDS, signal.SIGINT)


def _lines_until_ready(process: subprocess.Popen[str]) -> list[str]:
    assert process.stdout is not None
    lines: list[str] = []
    while not lines or not lines[-1].startswith(READY_LINE):
        line = process.stdout.readline()
        if not line:
            raise AssertionError(f"portalctl emulators ended: {lines}")
        lines.append(line.rstrip("\n"))
    return lines


def portalctl(environment: Mapping[str, str], *args: str) -> str:
    return run_process(list(args), environment, timeout=START_TIMEOUT_SECONDS)


@pytest.fixture
async def own_db() -> AsyncIterator[DatabaseSettings]:
    """The worker bootstraps its secret store from these emulators' keys: a database of its own."""
    async with own_database(DATABASE_ADMIN_URL) as database:
        yield database


async def until_status(
    client: Client, what: str, reached: Callable[[RotationStatus], bool]
) -> RotationStatus:
    """The sftp-ssh rotation's status once `reached`."""
    statuses: list[RotationStatus] = []

    async def check() -> bool:
        statuses.append(await rotation_status(client, CredentialKind.SFTP_SSH))
        return reached(statuses[-1])

    await wait_until(check, what)
    return statuses[-1]


async def test_a_worker_and_a_bridge_run_on_what_portalctl_emulators_prints(
    dev_env: WorkflowEnvironment, task_queue: str, own_db: DatabaseSettings, tmp_path: Path
) -> None:
    client = dev_env.client
    await end_rotations(client)
    address = client.service_client.config.target_host
    with running_emulators(tmp_path / "emulators", own_db, address) as emulators:
        environment = {
            **emulators.exports,
            "TEMPORAL_TASK_QUEUE": task_queue,
            "TEMPORAL_DEPLOYMENT_NAME": f"test-{task_queue}",
        }
        seeded = portalctl(environment, "emulators", "seed", "--orders", "2", "--approve")
        order_ids = re.findall(r"^Order (\w+): .*, approved", seeded, flags=re.MULTILINE)
        with portal_processes(environment, tmp_path):
            results = [await provisioned(client, order_id) for order_id in order_ids]
            rotated = await rotate_sftp_key_by_hand(client, environment, emulators.authorized_keys)
        with (
            pytest.raises(AuthenticationError, match="refused the key"),
            connect(original_key_settings(emulators.exports)),
        ):
            pass

    assert set(emulators.exports) >= NEEDED_BY_WORKER_AND_BRIDGE
    [dev_server] = [line for line in emulators.comments if "server start-dev" in line]
    for key in search_attributes.ALL:
        assert f"--search-attribute {key.name}=" in dev_server
    assert len(order_ids) == 2
    assert len(re.findall(r"^SIM 080\d{8}$", seeded, flags=re.MULTILINE)) == 2
    assert [result.outcome for result in results] == [ProvisionOutcome.ACTIVATED] * 2
    assert rotated.details.startswith("sftp-ssh: done: sftp-ssh v2 is active, v1 retired")


def append_line(authorized_keys: Path, key_line: str) -> None:
    """What the SFTP administrator does: the new key next to the old one."""
    with authorized_keys.open("a") as keys:
        keys.write(f"{key_line}\n")


def keep_only(authorized_keys: Path, key_line: str) -> None:
    """... and, once asked to, the old key removed."""
    authorized_keys.write_text(f"{key_line}\n")


async def provisioned(client: Client, order_id: str) -> ProvisionOrderResult:
    """The result of the order's workflow, once the bridge started it and it ended."""
    handle = client.get_workflow_handle_for(ProvisionOrder.run, provision_workflow_id(order_id))

    async def started() -> bool:
        try:
            await handle.describe()
        except RPCError as error:
            if error.status == RPCStatusCode.NOT_FOUND:
                return False
            raise
        return True

    await wait_until(started, f"the bridge starts provisioning {order_id}")
    async with asyncio.timeout(WORKFLOW_TIMEOUT_SECONDS):
        return await handle.result()


def original_key_settings(exports: Mapping[str, str]) -> SftpSettings:
    """The SFTP settings printed at start: the key the rotation replaced."""
    return SftpSettings(
        host=exports["SFTP_HOST"],
        port=int(exports["SFTP_PORT"]),
        username=exports["SFTP_USERNAME"],
        private_key_path=Path(exports["SFTP_PRIVATE_KEY_PATH"]),
        known_hosts_path=Path(exports["SFTP_KNOWN_HOSTS_PATH"]),
        remote_dir=exports["SFTP_REMOTE_DIR"],
    )


async def rotate_sftp_key_by_hand(
    client: Client, environment: Mapping[str, str], authorized_keys: Path
) -> RotationStatus:
    """The runbook's steps, with `portalctl rotate` and an editor on authorized_keys."""
    kind = CredentialKind.SFTP_SSH
    await asyncio.to_thread(portalctl, environment, "rotate", "start", kind)
    await until_status(client, "the new key is generated", lambda s: s.candidate is not None)
    new_key = (await asyncio.to_thread(portalctl, environment, "rotate", "pubkey")).strip()
    append_line(authorized_keys, new_key)
    await asyncio.to_thread(
        portalctl, environment, "rotate", "confirm", kind, HumanStep.PUBLIC_KEY_AUTHORIZED
    )
    await until_status(
        client,
        "the old key's removal is awaited",
        lambda s: s.awaiting_step == HumanStep.OLD_KEY_REMOVED,
    )
    keep_only(authorized_keys, new_key)
    await asyncio.to_thread(
        portalctl, environment, "rotate", "confirm", kind, HumanStep.OLD_KEY_REMOVED
    )
    return await until_status(
        client, "the rotation is done", lambda s: s.phase is RotationPhase.COMPLETED
    )
