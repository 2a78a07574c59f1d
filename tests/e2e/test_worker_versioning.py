"""A release with Worker Versioning on the dev server: two builds of the worker side by side.

Orders started on build 1 stay pinned to it while build 2 becomes current, including one that
failed and waits for a manual retry (it completes on build 1: the drain policy); new orders
start on build 2; `portalctl deploy status` shows build 1 draining and build 2 current. Which
build ran what is read from the histories (the deployment version of every workflow task, the
worker identity of every workflow task, which runs the vendor calls as local activities),
never inferred.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from temporalio.api.enums.v1 import EventType, VersioningBehavior
from temporalio.client import Client, WorkflowHandle
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import WorkerDeploymentConfig
from typer.testing import CliRunner, Result

from contracts.provisioning import ProvisionOutcome, ProvisionPolicy, RetryRequest
from contracts.task_queues import TaskQueues
from integrations.config import WorkerDeploymentSettings
from starters.cli.app import app
from starters.demo.local_vendors import LocalVendors
from starters.demo.sample_orders import SampleOrder, SampleOrderSpec, create_sample_order
from starters.deployments import describe_deployment
from starters.provisioning import request_provisioning
from tests.support.polling import wait_until
from workers.dependencies import Integrations
from workers.deployment import deployment_config
from workers.worker import running_workers
from workflows.provision_order import ProvisionOrder

V1 = "1.0.0+build1"
V2 = "1.1.0+build2"
POLICY = ProvisionPolicy(max_attempts=1)
"""A missing payment method fails at once; no transient faults here."""

Handle = WorkflowHandle[Any, Any]


@dataclasses.dataclass(frozen=True)
class Release:
    env: WorkflowEnvironment
    task_queue: str
    vendors: LocalVendors
    integrations: Integrations
    deployment_name: str
    cli_environment: dict[str, str]

    def config(self, build_id: str) -> WorkerDeploymentConfig:
        return deployment_config(
            WorkerDeploymentSettings(deployment_name=self.deployment_name, worker_build_id=build_id)
        )

    @property
    def task_queues(self) -> list[str]:
        return list(TaskQueues.for_base(self.task_queue).model_dump().values())

    async def order(self, *, has_payment_method: bool = True) -> SampleOrder:
        spec = SampleOrderSpec(has_payment_method=has_payment_method)
        return await create_sample_order(self.vendors, self.integrations.id_mappings, spec)

    async def provision(self, order: SampleOrder) -> Handle:
        return await request_provisioning(
            self.env.client, order.order_id, task_queue=self.task_queue
        )

    async def portalctl(self, *args: str) -> Result:
        """In a thread: the command runs its own event loop, as it does in a shell. It points
        logging at the runner's stream, closed afterwards: the workers' logging is restored."""
        root = logging.getLogger()
        handlers, level = root.handlers[:], root.level
        try:
            return await asyncio.to_thread(
                CliRunner().invoke, app, list(args), env=self.cli_environment
            )
        finally:
            root.handlers[:] = handlers
            root.setLevel(level)


@pytest.fixture
def release(
    dev_env: WorkflowEnvironment,
    task_queue: str,
    vendors: LocalVendors,
    integrations: Integrations,
) -> Release:
    """A Worker Deployment of this test's own (the dev server is shared by the session)."""
    name = f"portal-test-{uuid.uuid4().hex[:12]}"
    return Release(
        env=dev_env,
        task_queue=task_queue,
        vendors=vendors,
        integrations=dataclasses.replace(
            integrations,
            policies=dataclasses.replace(integrations.policies, provisioning=POLICY),
        ),
        deployment_name=name,
        cli_environment={
            "TEMPORAL_ADDRESS": dev_env.client.service_client.config.target_host,
            "TEMPORAL_NAMESPACE": dev_env.client.namespace,
            "TEMPORAL_DEPLOYMENT_NAME": name,
        },
    )


@contextlib.asynccontextmanager
async def build_running(release: Release, build_id: str) -> AsyncIterator[str]:
    """The workers of one build, as its own process would run them: a client of their own
    whose identity names the build (activity events record it). Yields that identity."""
    identity = f"worker-{build_id}"
    client = await Client.connect(
        release.cli_environment["TEMPORAL_ADDRESS"],
        namespace=release.env.client.namespace,
        data_converter=release.env.client.data_converter,
        identity=identity,
    )
    async with running_workers(
        client, release.task_queue, release.integrations, release.config(build_id)
    ):
        yield identity


@dataclasses.dataclass(frozen=True)
class RanOn:
    """Where a workflow ran, from its history and description."""

    workflow_task_builds: set[str]
    """The deployment version's build id of every completed workflow task."""
    task_workers: set[str]
    """The identity of the worker that ran each workflow task, and so its local activities
    (the vendor calls)."""
    workflow_task_failures: list[str]
    """Nondeterminism (or any other workflow task failure) shows here."""
    pinned_to: str | None
    """The build of its pinned versioning behaviour; None when not pinned."""


async def ran_on(handle: Handle) -> RanOn:
    builds, workers, failures = set(), set(), []
    for event in (await handle.fetch_history()).events:
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
            attributes = event.workflow_task_completed_event_attributes
            builds.add(attributes.deployment_version.build_id)
        elif event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED:
            workers.add(event.workflow_task_started_event_attributes.identity)
        elif event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED:
            failures.append(event.workflow_task_failed_event_attributes.failure.message)
    versioning = (await handle.describe()).raw_description.workflow_execution_info.versioning_info
    pinned = versioning.behavior == VersioningBehavior.VERSIONING_BEHAVIOR_PINNED
    return RanOn(
        builds, workers, failures, versioning.deployment_version.build_id if pinned else None
    )


async def test_pinned_orders_finish_on_their_build_while_new_ones_start_on_the_next(
    release: Release,
) -> None:
    async with build_running(release, V1) as worker_v1:
        routing = await describe_deployment(release.env.client, release.deployment_name)
        assert routing.current_build_id == V1  # the first build made itself current

        done_on_v1 = await release.provision(await release.order())
        assert (await done_on_v1.result()).outcome is ProvisionOutcome.ACTIVATED
        unpaid = await release.order(has_payment_method=False)
        waiting = await release.provision(unpaid)

        async def waits_for_retry() -> bool:
            return (await waiting.query(ProvisionOrder.status)).waiting_for_retry

        await wait_until(waits_for_retry, "the order without a payment method waits for a retry")

        async with build_running(release, V2) as worker_v2:
            routing = await describe_deployment(release.env.client, release.deployment_name)
            assert routing.current_build_id == V1  # a later build leaves the routing alone
            assert _state(routing.to_json(), V2) == "inactive"

            ramped = await release.portalctl("deploy", "ramp", V2, "0")
            assert ramped.exit_code == 0, ramped.output
            ramping = await _status_json(release)
            assert (ramping["ramping_build_id"], ramping["ramp_percentage"]) == (V2, 0)
            assert _state(ramping, V2) == "ramping"
            switched = await release.portalctl("deploy", "set-current", V2)
            assert switched.exit_code == 0, switched.output
            assert f"Current version: {V2} (was {V1})" in switched.output

            done_on_v2 = await release.provision(await release.order())
            assert (await done_on_v2.result()).outcome is ProvisionOutcome.ACTIVATED

            async def v1_shows_its_waiting_order() -> bool:
                status = await _status_json(release)
                return _pinned(status, V1) == {"ProvisionOrder": 1}

            await wait_until(v1_shows_its_waiting_order, "status counts the order pinned to v1")
            status = await _status_json(release)
            assert status["current_build_id"] == V2
            assert status["ramping_build_id"] is None
            assert _state(status, V1) == "draining"
            assert _state(status, V2) == "current"
            assert _pinned(status, V2) == {}
            table = await release.portalctl("deploy", "status")
            assert table.exit_code == 0, table.output
            assert _line(table.output, V1).split()[1] == "draining"
            assert "ProvisionOrder 1" in _line(table.output, V1)
            assert "keep its workers running" in _line(table.output, V1)
            assert _line(table.output, V2).split()[1] == "current"

            release.vendors.whmcs.add_pay_method(unpaid.whmcs_client_id)
            answer = await waiting.execute_update(ProvisionOrder.request_retry, RetryRequest())
            assert answer.accepted, answer.message
            assert (await waiting.result()).outcome is ProvisionOutcome.ACTIVATED

            assert await ran_on(done_on_v1) == RanOn({V1}, {worker_v1}, [], V1)
            assert await ran_on(waiting) == RanOn({V1}, {worker_v1}, [], V1)
            assert await ran_on(done_on_v2) == RanOn({V2}, {worker_v2}, [], V2)


async def test_deploy_commands_fail_in_one_line(release: Release) -> None:
    async with build_running(release, V1):
        unknown = await release.portalctl("deploy", "set-current", "9.9.9+nope")
        ramp_unknown = await release.portalctl("deploy", "ramp", "9.9.9+nope", "10")
        ramp_current = await release.portalctl("deploy", "ramp", V1, "10")
    other = dataclasses.replace(
        release, cli_environment={**release.cli_environment, "TEMPORAL_DEPLOYMENT_NAME": "absent"}
    )
    no_deployment = await other.portalctl("deploy", "status")
    unreachable = await dataclasses.replace(
        release, cli_environment={**release.cli_environment, "TEMPORAL_ADDRESS": "127.0.0.1:1"}
    ).portalctl("deploy", "status")

    for outcome in (unknown, ramp_unknown, ramp_current, no_deployment, unreachable):
        assert outcome.exit_code == 1, outcome.output
        assert len(outcome.output.strip().splitlines()) == 1, outcome.output
        assert "Traceback" not in outcome.output
    assert "No version '9.9.9+nope'" in unknown.output
    assert "No version '9.9.9+nope'" in ramp_unknown.output
    assert "already current" in ramp_current.output
    assert "No Worker Deployment 'absent'" in no_deployment.output
    assert "cannot reach Temporal" in unreachable.output


async def _status_json(release: Release) -> dict[str, Any]:
    outcome = await release.portalctl("deploy", "status", "--json")
    assert outcome.exit_code == 0, outcome.output
    status: dict[str, Any] = json.loads(outcome.stdout)
    return status


def _version(status: dict[str, Any], build_id: str) -> dict[str, Any]:
    [version] = [version for version in status["versions"] if version["build_id"] == build_id]
    assert isinstance(version, dict)
    return version


def _state(status: dict[str, Any], build_id: str) -> str:
    return str(_version(status, build_id)["state"])


def _pinned(status: dict[str, Any], build_id: str) -> dict[str, int]:
    pinned = _version(status, build_id)["pinned"]
    assert pinned is not None, "the dev server counts pinned workflows"
    by_type: dict[str, int] = pinned["by_type"]
    assert pinned["total"] == sum(by_type.values())
    return by_type


def _line(output: str, build_id: str) -> str:
    [line] = [line.strip() for line in output.splitlines() if line.strip().startswith(build_id)]
    return line
