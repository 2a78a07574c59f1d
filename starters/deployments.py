"""Steering releases with Worker Versioning: what the Worker Deployment looks like (versions,
current and ramping, drainage, open workflows pinned to each version), and moving new
workflows to a build (set current, ramp). `portalctl deploy` is its command line; the release
procedure is in docs/deployment.md, "Releases: Worker Versioning".
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp
from temporalio.api.deployment.v1 import WorkerDeploymentInfo
from temporalio.api.enums.v1 import WorkerDeploymentVersionStatus
from temporalio.api.workflowservice.v1 import (
    DescribeWorkerDeploymentRequest,
    SetWorkerDeploymentCurrentVersionRequest,
    SetWorkerDeploymentRampingVersionRequest,
)
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

PINNED_BREAKDOWN_LIMIT = 10_000
"""Open pinned workflows listed per version to count them by type (the total is exact)."""


class DeploymentError(Exception):
    """The server refused or cannot answer; the message is one line for the operator."""


class VersionState(StrEnum):
    CURRENT = "current"
    RAMPING = "ramping"
    DRAINING = "draining"
    """No new workflows; open pinned workflows may still run on it: keep its workers."""
    DRAINED = "drained"
    """No open pinned workflow left: its workers can stop."""
    INACTIVE = "inactive"
    """Registered, never current or ramping: no workflow runs on it."""
    UNKNOWN = "unknown"


_STATES = {
    WorkerDeploymentVersionStatus.WORKER_DEPLOYMENT_VERSION_STATUS_CURRENT: VersionState.CURRENT,
    WorkerDeploymentVersionStatus.WORKER_DEPLOYMENT_VERSION_STATUS_RAMPING: VersionState.RAMPING,
    WorkerDeploymentVersionStatus.WORKER_DEPLOYMENT_VERSION_STATUS_DRAINING: VersionState.DRAINING,
    WorkerDeploymentVersionStatus.WORKER_DEPLOYMENT_VERSION_STATUS_DRAINED: VersionState.DRAINED,
    WorkerDeploymentVersionStatus.WORKER_DEPLOYMENT_VERSION_STATUS_INACTIVE: VersionState.INACTIVE,
}

WORKERS_CAN_STOP = (VersionState.DRAINED, VersionState.INACTIVE)


@dataclass(frozen=True)
class PinnedWorkflows:
    """Open workflows pinned to one version, from visibility (seconds behind, at most)."""

    total: int
    by_type: dict[str, int]


@dataclass(frozen=True)
class VersionStatus:
    build_id: str
    state: VersionState
    created: datetime | None
    current_since: datetime | None
    ramping_since: datetime | None
    drainage_checked: datetime | None
    """When the server last counted the version's open pinned workflows (draining, drained)."""
    pinned: PinnedWorkflows | None
    """None: the server's visibility has no Worker Versioning search attributes."""

    @property
    def workers_can_stop(self) -> bool:
        return self.state in WORKERS_CAN_STOP


@dataclass(frozen=True)
class DeploymentStatus:
    name: str
    current_build_id: str | None
    """None: new workflows go to unversioned workers (no current version set)."""
    ramping_build_id: str | None
    ramp_percentage: float
    versions: list[VersionStatus] = field(default_factory=list)
    """Newest first."""

    def version(self, build_id: str) -> VersionStatus | None:
        return next((version for version in self.versions if version.build_id == build_id), None)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        for version in data["versions"]:
            for key in ("created", "current_since", "ramping_since", "drainage_checked"):
                version[key] = version[key].isoformat() if version[key] else None
        return data


async def describe_deployment(
    client: Client, deployment_name: str, *, count_pinned: bool = True
) -> DeploymentStatus:
    info = await _describe(client, deployment_name)
    routing = info.routing_config
    summaries = sorted(
        info.version_summaries, key=lambda s: _time(s.create_time) or _EPOCH, reverse=True
    )
    versions = [
        VersionStatus(
            build_id=summary.deployment_version.build_id,
            state=_STATES.get(summary.status, VersionState.UNKNOWN),
            created=_time(summary.create_time),
            current_since=_time(summary.current_since_time),
            ramping_since=_time(summary.ramping_since_time),
            drainage_checked=_time(summary.drainage_info.last_checked_time),
            pinned=await pinned_workflows(
                client, deployment_name, summary.deployment_version.build_id
            )
            if count_pinned
            else None,
        )
        for summary in summaries
    ]
    return DeploymentStatus(
        name=info.name,
        current_build_id=routing.current_deployment_version.build_id or None,
        ramping_build_id=routing.ramping_deployment_version.build_id or None,
        ramp_percentage=round(routing.ramping_version_percentage, 2),
        versions=versions,
    )


def pinned_query(deployment_name: str, build_id: str) -> str:
    """The visibility query of the open workflows pinned to one version."""
    return (
        f"TemporalWorkerDeploymentVersion = '{deployment_name}:{build_id}' "
        "AND TemporalWorkflowVersioningBehavior = 'Pinned' AND ExecutionStatus = 'Running'"
    )


async def pinned_workflows(
    client: Client, deployment_name: str, build_id: str
) -> PinnedWorkflows | None:
    """Count by workflow type (visibility has no GROUP BY on these attributes)."""
    query = pinned_query(deployment_name, build_id)
    by_type: Counter[str] = Counter()
    try:
        async for execution in client.list_workflows(
            query, limit=PINNED_BREAKDOWN_LIMIT, page_size=1000
        ):
            by_type[execution.workflow_type] += 1
        listed = sum(by_type.values())
        total = (
            (await client.count_workflows(query)).count
            if listed >= PINNED_BREAKDOWN_LIMIT
            else listed
        )
    except RPCError as error:
        if error.status == RPCStatusCode.INVALID_ARGUMENT:
            return None  # a server without the Worker Versioning search attributes
        raise _deployment_error(error, f"counting the workflows pinned to {build_id}") from None
    return PinnedWorkflows(total=total, by_type=dict(sorted(by_type.items())))


async def set_current_version(client: Client, deployment_name: str, build_id: str) -> str | None:
    """Route new workflows (and auto-upgrade ones) to `build_id`; returns the previous current
    build (None: unversioned). Pinned workflows stay where they are. Idempotent."""
    await _describe(client, deployment_name)  # a clear "no such deployment" first
    try:
        answer = await client.workflow_service.set_worker_deployment_current_version(
            SetWorkerDeploymentCurrentVersionRequest(
                namespace=client.namespace,
                deployment_name=deployment_name,
                build_id=build_id,
                identity=client.identity,
            )
        )
    except RPCError as error:
        raise _deployment_error(error, f"setting {build_id} current", build_id) from None
    return answer.previous_deployment_version.build_id or None


async def set_ramping_version(
    client: Client, deployment_name: str, build_id: str, percentage: float
) -> None:
    """Send `percentage` % of new workflows (and of auto-upgrade ones) to `build_id`."""
    if not 0 <= percentage <= 100:
        raise DeploymentError(f"ramp percentage must be between 0 and 100, not {percentage}")
    await _describe(client, deployment_name)
    try:
        await client.workflow_service.set_worker_deployment_ramping_version(
            SetWorkerDeploymentRampingVersionRequest(
                namespace=client.namespace,
                deployment_name=deployment_name,
                build_id=build_id,
                percentage=percentage,
                identity=client.identity,
            )
        )
    except RPCError as error:
        raise _deployment_error(error, f"ramping {build_id}", build_id) from None


async def _describe(client: Client, deployment_name: str) -> WorkerDeploymentInfo:
    try:
        described = await client.workflow_service.describe_worker_deployment(
            DescribeWorkerDeploymentRequest(
                namespace=client.namespace, deployment_name=deployment_name
            )
        )
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND:
            raise DeploymentError(
                f"No Worker Deployment {deployment_name!r} in namespace {client.namespace}: "
                "no versioned worker has polled yet (TEMPORAL_DEPLOYMENT_NAME names it)"
            ) from None
        raise _deployment_error(error, f"describing {deployment_name}") from None
    return described.worker_deployment_info


def _deployment_error(error: RPCError, doing: str, build_id: str | None = None) -> DeploymentError:
    if error.status == RPCStatusCode.NOT_FOUND and build_id is not None:
        return DeploymentError(
            f"No version {build_id!r} in the Worker Deployment: its workers have not polled "
            "yet, or the build id is mistyped (`portalctl deploy status` lists the versions)"
        )
    if error.status == RPCStatusCode.UNAVAILABLE:
        return DeploymentError(f"cannot reach Temporal while {doing}: {error.message}")
    return DeploymentError(f"Temporal refused {doing}: {error.message}")


_EPOCH = datetime.fromtimestamp(0, UTC)


def _time(timestamp: Timestamp) -> datetime | None:
    if not timestamp.seconds and not timestamp.nanos:
        return None
    return timestamp.ToDatetime(tzinfo=UTC)
