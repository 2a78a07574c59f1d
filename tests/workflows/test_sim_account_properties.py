"""Property: whatever customers request and cancel, and whenever, no two Freebit calls on one
account are closer than the gap, and no operation runs twice."""

from __future__ import annotations

import contextlib
import itertools
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from temporalio.client import WorkflowExecutionStatus, WorkflowHandle
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from contracts.sim import (
    CancelOperationRequest,
    NetworkTypeChange,
    OperationStatus,
    PlanChange,
    QuotaTopUp,
    SimAccountPolicy,
    SimAccountResult,
    SimOperation,
    VoiceOptionsChange,
    sim_workflow_id,
)
from emulators.freebit import NewSimAccount
from starters.demo.local_vendors import LocalVendors
from starters.sim_operations import request_sim_operation
from tests.support.temporal import deployment_for, workflow_environment
from tests.support.worker_policies import with_policies
from workers.dependencies import Integrations
from workers.worker import running_workers
from workflows.sim_account import SimAccount

GAP = timedelta(minutes=30)
SimHandle = WorkflowHandle[SimAccount, SimAccountResult]
PLAN_CODES = ["PASI_5GB", "PASI_10GB", "PASI_20GB"]
POLICY = SimAccountPolicy(plan_codes=PLAN_CODES, operation_gap=GAP, network_type_delay=GAP)

operations = st.one_of(
    st.builds(PlanChange, plan_code=st.sampled_from(PLAN_CODES)),
    st.builds(QuotaTopUp, quota_mb=st.integers(100, 51_200)),
    st.builds(NetworkTypeChange, contract_line=st.sampled_from(["4G", "5G"])),
    st.builds(VoiceOptionsChange, voice_mail=st.booleans()),
)


@dataclass(frozen=True)
class Request:
    operation: SimOperation


@dataclass(frozen=True)
class Cancel:
    which: int
    """Index into the requests made so far (modulo their count)."""


@dataclass(frozen=True)
class Wait:
    minutes: int


steps = st.lists(
    st.one_of(
        st.builds(Request, operations),
        st.builds(Cancel, st.integers(0, 20)),
        st.builds(Wait, st.integers(1, 45)),
    ),
    min_size=1,
    max_size=8,
)


@pytest.fixture(scope="module")
async def time_skipping_env(request: pytest.FixtureRequest) -> AsyncIterator[WorkflowEnvironment]:
    async with workflow_environment(request.config.getoption("--workflow-environment")) as env:
        yield env


@pytest.fixture
async def sim_worker(
    time_skipping_env: WorkflowEnvironment,
    task_queue: str,
    integrations: Integrations,
    vendors: LocalVendors,
) -> AsyncIterator[WorkflowEnvironment]:
    vendors.freebit.set_timing(contract_line_lock=timedelta(0), operation_gap=timedelta(0))
    configured = with_policies(integrations, sim_account=POLICY)
    async with running_workers(
        time_skipping_env.client, task_queue, configured, deployment_for(task_queue)
    ):
        yield time_skipping_env


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(steps=steps)
async def test_gap_holds_and_nothing_runs_twice(
    sim_worker: WorkflowEnvironment, task_queue: str, vendors: LocalVendors, steps: list[object]
) -> None:
    env = sim_worker
    if not env.supports_time_skipping:
        pytest.skip("skips hours of workflow time")
    account = f"090{uuid.uuid4().int % 10**8:08d}"  # hypothesis reseeds `random`
    vendors.freebit.add_account(NewSimAccount(account=account))
    accepted, run_ids = await drive(env, task_queue, account, steps)
    handle = env.client.get_workflow_handle_for(SimAccount.run, sim_workflow_id(account))
    while accepted and (await handle.describe()).status == WorkflowExecutionStatus.RUNNING:
        await env.sleep(GAP)

    history = sorted(
        [
            op
            for run_id in run_ids
            for op in (await run_handle(env, account, run_id).query(SimAccount.overview)).history
        ],
        key=lambda op: op.finished_at or op.requested_at,
    )
    assert Counter(op.op_id for op in history) == Counter(accepted)
    ran = [op for op in history if op.status is not OperationStatus.CANCELLED]
    for earlier, later in itertools.pairwise(ran):
        assert earlier.finished_at is not None
        assert later.started_at is not None
        assert later.started_at - earlier.finished_at >= GAP
    succeeded = [op for op in ran if op.status is OperationStatus.SUCCEEDED]
    assert len(vendors.freebit.operations(account)) == len(succeeded)


def run_handle(env: WorkflowEnvironment, account: str, run_id: str | None = None) -> SimHandle:
    return env.client.get_workflow_handle_for(
        SimAccount.run, sim_workflow_id(account), run_id=run_id
    )


async def drive(
    env: WorkflowEnvironment, task_queue: str, account: str, steps: list[object]
) -> tuple[list[str], list[str]]:
    """Play the steps; the ids of the operations requested and of the runs that took them
    (the workflow ends when idle, and a later request starts a new run)."""
    accepted: list[str] = []
    run_ids: list[str] = []
    for step in steps:
        match step:
            case Request(operation=operation):
                answer = await request_sim_operation(
                    env.client, account, operation, task_queue=task_queue
                )
                accepted.append(answer.op_id)
                run_id = (await run_handle(env, account).describe()).run_id
                if run_id not in run_ids:
                    run_ids.append(run_id)
            case Cancel(which=which) if accepted:
                with contextlib.suppress(RPCError):  # that run has already finished
                    await run_handle(env, account).execute_update(
                        SimAccount.cancel_operation,
                        CancelOperationRequest(op_id=accepted[which % len(accepted)]),
                    )
            case Wait(minutes=minutes):
                await env.sleep(timedelta(minutes=minutes))
    return accepted, run_ids
