"""Worker Versioning, the worker's side: which Worker Deployment Version this process is, and
how the first deployment gets its current version.

Every workflow type declares its own versioning behaviour (`@workflow.defn(
versioning_behavior=...)`), so the config sets no default: a workflow type without one stops
the worker at start instead of running under a behaviour nobody chose. The policy and the
release procedure: docs/deployment.md, "Releases: Worker Versioning".
"""

from __future__ import annotations

import asyncio
import functools
import importlib.metadata
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from pathlib import Path

import structlog
from temporalio.api.deployment.v1 import WorkerDeploymentVersion as WorkerDeploymentVersionProto
from temporalio.api.workflowservice.v1 import (
    DescribeWorkerDeploymentRequest,
    DescribeWorkerDeploymentVersionRequest,
    SetWorkerDeploymentCurrentVersionRequest,
)
from temporalio.client import Client
from temporalio.common import WorkerDeploymentVersion
from temporalio.service import RPCError, RPCStatusCode
from temporalio.worker import WorkerDeploymentConfig

from integrations.config import WorkerDeploymentSettings

log = structlog.get_logger(__name__)

PACKAGE = "portal-workflows"
SOURCE_ROOT = Path(__file__).resolve().parents[1]
"""The directory holding the packages: a git checkout when run from source."""
UNKNOWN_VERSION = "0.0.0"
GIT_TIMEOUT_SECONDS = 5.0
REGISTRATION_TIMEOUT = timedelta(minutes=2)
"""How long the first worker waits for its task queues to show in its version."""
REGISTRATION_POLL_SECONDS = 0.5


def package_version() -> str:
    try:
        return importlib.metadata.version(PACKAGE)
    except importlib.metadata.PackageNotFoundError:
        return UNKNOWN_VERSION


def git_commit(directory: Path = SOURCE_ROOT) -> str | None:
    """`git rev-parse --short HEAD` of `directory` if it is a git checkout, else None.

    None too when git is missing, refuses the directory or takes too long: a build id never
    stops a worker.
    """
    if not (directory / ".git").exists():
        return None
    try:
        completed = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=directory,
            capture_output=True,
            text=True,
            timeout=GIT_TIMEOUT_SECONDS,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    commit = completed.stdout.strip()
    return commit if completed.returncode == 0 and commit.isalnum() else None


@functools.cache
def default_build_id() -> str:
    """The package version plus the git commit when known: `0.1.0+abc1234`, or `0.1.0`."""
    version, commit = package_version(), git_commit()
    if commit is None:
        return version
    return f"{version}{'.' if '+' in version else '+'}{commit}"


def build_id(settings: WorkerDeploymentSettings) -> str:
    """TEMPORAL_WORKER_BUILD_ID, or the computed default."""
    return settings.worker_build_id or default_build_id()


def worker_version(settings: WorkerDeploymentSettings) -> WorkerDeploymentVersion:
    return WorkerDeploymentVersion(
        deployment_name=settings.deployment_name, build_id=build_id(settings)
    )


def deployment_config(settings: WorkerDeploymentSettings) -> WorkerDeploymentConfig:
    """Versioned workers of this build; no default behaviour, each workflow declares its own."""
    return WorkerDeploymentConfig(version=worker_version(settings), use_worker_versioning=True)


class FirstDeployment(StrEnum):
    """What `become_current_if_first` found or did."""

    MADE_CURRENT = "made current"
    """The deployment never had a current version: this build is its first."""
    ALREADY_CURRENT = "already current"
    NOT_CURRENT = "not current"
    """Another version (or unversioned workers) is current: a release, steered by hand."""
    UNDECIDED = "undecided"
    """The server did not answer in time or refused: nothing changed (see the log)."""


@dataclass(frozen=True)
class FirstDeploymentCheck:
    outcome: FirstDeployment
    current_build_id: str | None
    """The deployment's current build after the check; None: unversioned workers, or unknown."""


async def become_current_if_first(
    client: Client,
    version: WorkerDeploymentVersion,
    task_queues: Iterable[str],
    *,
    within: timedelta = REGISTRATION_TIMEOUT,
) -> FirstDeploymentCheck:
    """Make `version` current if its deployment has never had a current version.

    A fresh Worker Deployment routes new workflows to unversioned workers only, so versioned
    workers would receive none until someone sets a current version: the first deployment's
    first worker does that itself, once all of `task_queues` are polled in its version. Any
    later build leaves the routing alone (a release is `portalctl deploy set-current`), and
    so does every restart, so a restarted old worker never takes the current version back.
    Never raises for the server's answers: the worker keeps running and the log says what to do.
    """
    identity = f"{client.identity} worker {version.build_id}"
    try:
        async with asyncio.timeout(within.total_seconds()):
            await _wait_until_registered(client, version, set(task_queues))
            for _ in range(3):  # a concurrent change of the routing: look again
                check = await _set_current_if_never_set(client, version, identity)
                if check is not None:
                    _log_check(version, check)
                    return check
        log.warning(
            "The Worker Deployment's routing kept changing: left alone",
            deployment=version.deployment_name,
            build_id=version.build_id,
            hint="portalctl deploy status",
        )
    except TimeoutError:
        log.warning(
            "Worker version not registered in time: routing left alone",
            deployment=version.deployment_name,
            build_id=version.build_id,
            timeout_seconds=within.total_seconds(),
        )
    except RPCError as error:
        log.warning(
            "Could not check the Worker Deployment's current version",
            deployment=version.deployment_name,
            build_id=version.build_id,
            error=error.message,
            hint=f"portalctl deploy set-current {version.build_id}",
        )
    return FirstDeploymentCheck(FirstDeployment.UNDECIDED, None)


async def _wait_until_registered(
    client: Client, version: WorkerDeploymentVersion, task_queues: set[str]
) -> None:
    request = DescribeWorkerDeploymentVersionRequest(
        namespace=client.namespace,
        deployment_version=WorkerDeploymentVersionProto(
            deployment_name=version.deployment_name, build_id=version.build_id
        ),
    )
    while True:
        try:
            described = await client.workflow_service.describe_worker_deployment_version(request)
        except RPCError as error:
            if error.status != RPCStatusCode.NOT_FOUND:
                raise
        else:
            if task_queues <= {queue.name for queue in described.version_task_queues}:
                return
        await asyncio.sleep(REGISTRATION_POLL_SECONDS)


async def _set_current_if_never_set(
    client: Client, version: WorkerDeploymentVersion, identity: str
) -> FirstDeploymentCheck | None:
    described = await client.workflow_service.describe_worker_deployment(
        DescribeWorkerDeploymentRequest(
            namespace=client.namespace, deployment_name=version.deployment_name
        )
    )
    routing = described.worker_deployment_info.routing_config
    current = routing.current_deployment_version.build_id or None
    if current == version.build_id:
        return FirstDeploymentCheck(FirstDeployment.ALREADY_CURRENT, current)
    if current is not None or routing.HasField("current_version_changed_time"):
        return FirstDeploymentCheck(FirstDeployment.NOT_CURRENT, current)
    try:
        await client.workflow_service.set_worker_deployment_current_version(
            SetWorkerDeploymentCurrentVersionRequest(
                namespace=client.namespace,
                deployment_name=version.deployment_name,
                build_id=version.build_id,
                conflict_token=described.conflict_token,
                identity=identity,
            )
        )
    except RPCError as error:
        if error.status in (RPCStatusCode.FAILED_PRECONDITION, RPCStatusCode.ABORTED):
            return None  # someone else changed the routing since we looked
        raise
    return FirstDeploymentCheck(FirstDeployment.MADE_CURRENT, version.build_id)


def _log_check(version: WorkerDeploymentVersion, check: FirstDeploymentCheck) -> None:
    fields = {"deployment": version.deployment_name, "build_id": version.build_id}
    if check.outcome is FirstDeployment.MADE_CURRENT:
        log.info("First version of the Worker Deployment: made current", **fields)
    elif check.outcome is FirstDeployment.ALREADY_CURRENT:
        log.info("Worker version is current", **fields)
    else:
        log.info(
            "Worker version is not current: new workflows start on the current one",
            current_build_id=check.current_build_id or "unversioned",
            hint=f"portalctl deploy set-current {version.build_id}",
            **fields,
        )
