"""SimAccount on the time-skipping server, with the Freebit emulator over real HTTP.

The emulator's own clock does not follow skipped time, so its lock and gap rules are off
here (they are proven against the client in tests/integration/test_freebit_client.py); the
gap is checked on the workflow's own timestamps, which are server time.
"""

from __future__ import annotations

import contextlib
import itertools
import random
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta

import pytest
from temporalio.api.sdk.v1 import WorkflowMetadata
from temporalio.client import WorkflowExecutionStatus, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from activities.policies import PolicyActivities
from contracts.sim import (
    CancelOperationRequest,
    InvalidSimRequestError,
    NetworkTypeChange,
    OperationAccepted,
    OperationRequest,
    OperationStatus,
    PlanChange,
    QueuedOperation,
    QuotaTopUp,
    SimAccountPolicy,
    SimAccountResult,
    SimOperation,
    VoiceOptionsChange,
    sim_workflow_id,
)
from emulators.faults import Fault, FaultKind
from emulators.freebit import NewSimAccount
from integrations.freebit.token_cache import TOKEN_KEY as FREEBIT_TOKEN_KEY
from integrations.redis_connection import redis_client
from starters.demo.local_vendors import LocalVendors
from starters.sim_operations import request_sim_operation
from tests.conftest import TEST_REDIS_URL, SaveHistory
from tests.support.polling import wait_until
from tests.support.temporal import deployment_for, workflow_environment
from tests.support.worker_policies import with_policies
from workers.dependencies import Integrations
from workers.worker import running_workers
from workflows.search_attributes import SIM_QUEUED_OPERATIONS
from workflows.sim_account import SimAccount

GAP = timedelta(minutes=30)
POLICY = SimAccountPolicy(
    plan_codes=["PASI_5GB", "PASI_10GB", "PASI_99GB"], operation_gap=GAP, network_type_delay=GAP
)


@pytest.fixture
def worker_policies(integrations: Integrations) -> PolicyActivities:
    return with_policies(integrations, sim_account=POLICY).policies


SimHandle = WorkflowHandle[SimAccount, SimAccountResult]
Request = Callable[..., Awaitable[OperationAccepted]]


@pytest.fixture
async def env(request: pytest.FixtureRequest) -> AsyncIterator[WorkflowEnvironment]:
    """A server of this test's own: on the time-skipping server, one test's rejected update
    or stopped worker was seen to hold back time skipping for the tests after it."""
    async with workflow_environment(request.config.getoption("--workflow-environment")) as env:
        if not env.supports_time_skipping:
            pytest.skip("waits out 30-minute Freebit gaps: needs the time-skipping server")
        yield env


@pytest.fixture
def account(vendors: LocalVendors) -> str:
    """A SIM of this test's own, so that no earlier test's workflow shares its id."""
    number = f"080{random.randrange(10**8):08d}"
    vendors.freebit.set_timing(contract_line_lock=timedelta(0), operation_gap=timedelta(0))
    vendors.freebit.add_account(NewSimAccount(account=number, plan_code="PASI_10GB"))
    return number


@pytest.fixture
async def request_operation(
    env: WorkflowEnvironment, task_queue: str, account: str
) -> AsyncIterator[Request]:
    """Requests operations on the test account; terminates its workflow after the test."""

    async def request(operation: SimOperation, queue: str = task_queue) -> OperationAccepted:
        return await request_sim_operation(env.client, account, operation, task_queue=queue)

    yield request
    with contextlib.suppress(RPCError):
        await sim_handle(env, account).terminate("test finished")


def sim_handle(env: WorkflowEnvironment, account: str) -> SimHandle:
    return env.client.get_workflow_handle_for(SimAccount.run, sim_workflow_id(account))


async def finished_history(env: WorkflowEnvironment, account: str) -> list[QueuedOperation]:
    """Skip time until the workflow has nothing left to do; its finished operations."""
    handle = sim_handle(env, account)
    while (await handle.describe()).status == WorkflowExecutionStatus.RUNNING:
        await env.sleep(GAP)
    return (await handle.query(SimAccount.overview)).history


def assert_gap_respected(history: list[QueuedOperation]) -> None:
    ran = [op for op in history if op.started_at is not None]
    for earlier, later in itertools.pairwise(ran):
        assert earlier.finished_at is not None
        assert later.started_at is not None
        assert later.started_at - earlier.finished_at >= GAP


with_worker = pytest.mark.usefixtures("worker")


@with_worker
async def test_two_operations_requested_together_run_at_least_the_gap_apart(
    env: WorkflowEnvironment,
    vendors: LocalVendors,
    request_operation: Request,
    account: str,
    save_history: SaveHistory,
) -> None:
    await request_operation(PlanChange(plan_code="PASI_5GB"))
    await request_operation(QuotaTopUp(quota_mb=1024))

    history = await finished_history(env, account)

    assert [op.status for op in history] == [OperationStatus.SUCCEEDED] * 2
    assert_gap_respected(history)
    assert [record.operation for record in vendors.freebit.operations(account)] == [
        "changePlan",
        "addSpec",
    ]
    assert vendors.freebit.account(account).plan_code == "PASI_5GB"
    await save_history(sim_handle(env, account), "sim_account_two_operations")


@with_worker
async def test_history_carries_no_freebit_credentials(
    env: WorkflowEnvironment, vendors: LocalVendors, request_operation: Request, account: str
) -> None:
    await request_operation(QuotaTopUp(quota_mb=300))
    await finished_history(env, account)

    history = (await sim_handle(env, account).fetch_history()).to_json()
    async with redis_client(TEST_REDIS_URL) as redis:
        auth_key = await redis.get(FREEBIT_TOKEN_KEY)
    assert isinstance(auth_key, bytes)
    oem_key = vendors.freebit_settings.oem_key.get_secret_value()
    assert [secret for secret in (oem_key, auth_key.decode()) if secret in history] == []


@with_worker
async def test_network_type_change_runs_the_delay_after_it_was_requested(
    env: WorkflowEnvironment, vendors: LocalVendors, request_operation: Request, account: str
) -> None:
    accepted = await request_operation(NetworkTypeChange(contract_line="5G"))

    [change] = await finished_history(env, account)

    assert change.started_at is not None
    assert change.started_at - change.requested_at >= GAP
    assert accepted.earliest_start == change.requested_at + GAP
    assert vendors.freebit.account(account).contract_line == "5G"


@with_worker
async def test_a_waiting_operation_shows_in_the_search_attribute_and_its_time_to_the_second(
    env: WorkflowEnvironment, request_operation: Request, account: str
) -> None:
    accepted = await request_operation(NetworkTypeChange(contract_line="5G"))
    handle = sim_handle(env, account)
    details = ""

    async def waits() -> bool:
        nonlocal details
        metadata = await handle.query("__temporal_workflow_metadata", result_type=WorkflowMetadata)
        details = str(metadata.current_details)
        return details.startswith("next operation at")

    await wait_until(waits, "the SIM's workflow waits for the network type change")
    assert details.startswith(f"next operation at {accepted.earliest_start:%H:%M:%S} UTC")
    waiting = await handle.describe()
    assert waiting.typed_search_attributes.get(SIM_QUEUED_OPERATIONS) == 1
    await finished_history(env, account)
    assert (await handle.describe()).typed_search_attributes.get(SIM_QUEUED_OPERATIONS) == 0


@with_worker
async def test_cancelled_operation_never_reaches_freebit(
    env: WorkflowEnvironment,
    vendors: LocalVendors,
    request_operation: Request,
    account: str,
    save_history: SaveHistory,
) -> None:
    await request_operation(PlanChange(plan_code="PASI_5GB"))
    top_up = await request_operation(QuotaTopUp(quota_mb=500))

    answer = await sim_handle(env, account).execute_update(
        SimAccount.cancel_operation, CancelOperationRequest(op_id=top_up.op_id)
    )
    history = await finished_history(env, account)

    assert answer.cancelled
    assert {op.op_id: op.status for op in history}[top_up.op_id] is OperationStatus.CANCELLED
    assert "addSpec" not in vendors.freebit.call_counts()
    await save_history(sim_handle(env, account), "sim_account_cancelled_operation")


@with_worker
@pytest.mark.parametrize(
    ("operation", "problem"),
    [
        (QuotaTopUp(quota_mb=99), "quota 99 MB is outside 100-51200 MB"),
        (QuotaTopUp(quota_mb=51_201), "quota 51201 MB is outside 100-51200 MB"),
        (VoiceOptionsChange(), "a voice option change must set voice mail or call waiting"),
    ],
)
async def test_invalid_request_is_refused_before_a_workflow_starts(
    env: WorkflowEnvironment,
    request_operation: Request,
    account: str,
    operation: SimOperation,
    problem: str,
) -> None:
    with pytest.raises(InvalidSimRequestError, match=re.escape(problem)):
        await request_operation(operation)
    with pytest.raises(RPCError):
        await sim_handle(env, account).describe()


@with_worker
async def test_plan_codes_are_the_workers_setting(
    env: WorkflowEnvironment, request_operation: Request, account: str, save_history: SaveHistory
) -> None:
    """The request that starts a run is checked by the handler once the run has read the
    worker's FREEBIT_PLAN_CODES; later ones by the validator, before they enter history."""
    with pytest.raises(WorkflowUpdateFailedError) as first:
        await request_operation(PlanChange(plan_code="NOPE"))
    assert "unknown plan code 'NOPE'" in str(first.value.cause)
    await request_operation(PlanChange(plan_code="PASI_5GB"))
    with pytest.raises(WorkflowUpdateFailedError) as later:
        await sim_handle(env, account).execute_update(
            SimAccount.request_operation, OperationRequest(operation=PlanChange(plan_code="NOPE"))
        )
    assert "unknown plan code 'NOPE'" in str(later.value.cause)

    history = await finished_history(env, account)

    assert [op.operation for op in history] == [PlanChange(plan_code="PASI_5GB")]
    await save_history(sim_handle(env, account), "sim_account_refused_plan_code")


@with_worker
async def test_invalid_request_is_rejected_by_the_validator_and_never_enters_history(
    env: WorkflowEnvironment, request_operation: Request, account: str
) -> None:
    await request_operation(PlanChange(plan_code="PASI_5GB"))
    handle = sim_handle(env, account)

    with pytest.raises(WorkflowUpdateFailedError) as rejected:
        await handle.execute_update(
            SimAccount.request_operation, OperationRequest(operation=QuotaTopUp(quota_mb=5))
        )

    assert "quota 5 MB is outside 100-51200 MB" in str(rejected.value.cause)
    history = await handle.fetch_history()
    accepted_updates = [
        event
        for event in history.events
        if event.HasField("workflow_execution_update_accepted_event_attributes")
    ]
    assert len(accepted_updates) == 1
    assert (await handle.query(SimAccount.overview)).queue == []


@with_worker
async def test_failed_operation_reports_freebit_reason_and_does_not_block_the_queue(
    env: WorkflowEnvironment, vendors: LocalVendors, request_operation: Request, account: str
) -> None:
    await request_operation(PlanChange(plan_code="PASI_99GB"))  # we allow it; Freebit does not
    await request_operation(VoiceOptionsChange(voice_mail=True))

    failed, succeeded = await finished_history(env, account)

    assert failed.status is OperationStatus.FAILED
    assert failed.error is not None
    assert "PASI_99GB" in failed.error
    assert succeeded.status is OperationStatus.SUCCEEDED
    assert vendors.freebit.account(account).voice_mail is True


@with_worker
async def test_transient_failure_is_retried_a_gap_later_and_runs_once(
    env: WorkflowEnvironment, vendors: LocalVendors, request_operation: Request, account: str
) -> None:
    vendors.freebit.inject(Fault(target="changePlan", kind=FaultKind.HTTP_503, times=1))
    await request_operation(PlanChange(plan_code="PASI_5GB"))

    [change] = await finished_history(env, account)

    assert change.status is OperationStatus.SUCCEEDED
    assert change.finished_at is not None
    assert change.started_at is not None
    assert change.finished_at - change.started_at >= GAP
    assert len(vendors.freebit.operations(account)) == 1


@with_worker
async def test_top_up_with_unknown_outcome_is_not_sent_twice(
    env: WorkflowEnvironment, vendors: LocalVendors, request_operation: Request, account: str
) -> None:
    vendors.freebit.inject(Fault(target="addSpec", kind=FaultKind.COMMIT_THEN_TIMEOUT, seconds=3))
    await request_operation(QuotaTopUp(quota_mb=1024))

    [top_up] = await finished_history(env, account)

    assert top_up.status is OperationStatus.FAILED
    assert top_up.error is not None
    assert "may have been applied" in top_up.error
    assert vendors.freebit.call_counts()["addSpec"] == 1


@with_worker
async def test_plan_change_with_unknown_outcome_is_checked_not_repeated(
    env: WorkflowEnvironment, vendors: LocalVendors, request_operation: Request, account: str
) -> None:
    vendors.freebit.inject(
        Fault(target="changePlan", kind=FaultKind.COMMIT_THEN_TIMEOUT, seconds=3)
    )
    await request_operation(PlanChange(plan_code="PASI_5GB"))

    [change] = await finished_history(env, account)

    assert change.status is OperationStatus.SUCCEEDED
    assert vendors.freebit.call_counts()["changePlan"] == 1
    assert vendors.freebit.call_counts()["getDetail"] == 1  # checked, found applied


async def test_worker_restart_during_the_wait_neither_shortens_nor_repeats(
    dev_env: WorkflowEnvironment,
    task_queue: str,
    vendors: LocalVendors,
    integrations: Integrations,
    account: str,
) -> None:
    """On the dev server with a short gap: the time-skipping server cannot hand a workflow
    from a stopped worker to a new one while time is being skipped."""
    short_gap = timedelta(seconds=3)
    short = with_policies(
        integrations, sim_account=POLICY.model_copy(update={"operation_gap": short_gap})
    )
    handle = dev_env.client.get_workflow_handle_for(SimAccount.run, sim_workflow_id(account))
    async with running_workers(dev_env.client, task_queue, short, deployment_for(task_queue)):
        accepted = [
            await request_sim_operation(dev_env.client, account, operation, task_queue=task_queue)
            for operation in (PlanChange(plan_code="PASI_5GB"), QuotaTopUp(quota_mb=200))
        ]
        while not (await handle.query(SimAccount.overview)).history:
            await dev_env.sleep(timedelta(milliseconds=100))

    async with running_workers(dev_env.client, task_queue, short, deployment_for(task_queue)):
        await handle.result()
        history = (await handle.query(SimAccount.overview)).history

    assert [op.op_id for op in history] == [op.op_id for op in accepted]
    [first, second] = history
    assert first.finished_at is not None
    assert second.started_at is not None
    assert second.started_at - first.finished_at >= short_gap
    assert len(vendors.freebit.operations(account)) == 2


async def test_continue_as_new_keeps_the_queue_and_the_last_operation_time(
    env: WorkflowEnvironment,
    integrations: Integrations,
    vendors: LocalVendors,
    request_operation: Request,
    account: str,
    save_history: SaveHistory,
) -> None:
    short_history = with_policies(
        integrations, sim_account=POLICY.model_copy(update={"history_events_limit": 10})
    )
    async with running_workers(
        env.client, "short-history", short_history, deployment_for("short-history")
    ):
        for quota in (100, 200, 300):
            await request_operation(QuotaTopUp(quota_mb=quota), "short-history")
        first_run = (await sim_handle(env, account).describe()).run_id

        history = await finished_history(env, account)

    assert (await sim_handle(env, account).describe()).run_id != first_run
    assert [op.operation for op in history] == [
        QuotaTopUp(quota_mb=quota) for quota in (100, 200, 300)
    ]
    assert_gap_respected(history)
    assert len(vendors.freebit.operations(account)) == 3
    await save_history(sim_handle(env, account), "sim_account_continued_as_new")
