"""`SimAccount`: one entity workflow per SIM (id `sim-{account}`) that runs its Freebit
operations one at a time, in the order they were requested.

Freebit needs a gap between two operations on one account (FREEBIT_OPERATION_GAP, 30 min)
and runs a 4G/5G change 30 minutes after it was requested; both are durable timers here.
Requests arrive by update-with-start and are validated before they enter history. The
workflow ends once it is idle and the gap after its last operation has passed, so a new run
never needs to know the previous one's timing; before history grows large it continues as
new with its whole state.
"""

from __future__ import annotations

import contextlib
from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy, VersioningBehavior
from temporalio.exceptions import ActivityError, ApplicationError

from workflows.calls import execute, execute_local
from workflows.search_attributes import SIM_QUEUED_OPERATIONS

with workflow.unsafe.imports_passed_through():
    from contracts.activity_type import ActivityType
    from contracts.sim import (
        ADD_QUOTA,
        CANCEL_ACCOUNT,
        CHANGE_NETWORK_TYPE,
        CHANGE_PLAN,
        CHANGE_VOICE_OPTIONS,
        HISTORY_KEPT,
        SIM_POLICY,
        Cancellation,
        CancellationCall,
        CancelOperationAnswer,
        CancelOperationRequest,
        InvalidSimRequestError,
        NetworkTypeCall,
        NetworkTypeChange,
        OperationAccepted,
        OperationRequest,
        OperationStatus,
        PlanChange,
        PlanChangeCall,
        QueuedOperation,
        QuotaTopUp,
        SimAccountInput,
        SimAccountOverview,
        SimAccountPolicy,
        SimAccountResult,
        TopUpCall,
        VoiceOptionsCall,
        VoiceOptionsChange,
        validate_plan_code,
        validate_request,
    )
    from contracts.task_queues import TaskQueues

FREEBIT_CALL_TIMEOUT = timedelta(minutes=2)
POLICY_TIMEOUT = timedelta(seconds=10)


@workflow.defn(versioning_behavior=VersioningBehavior.PINNED)
class SimAccount:
    """Pinned: a run ends once the SIM's queue is idle (minutes to hours), and continues as
    new onto the current build when its history grows large."""

    @workflow.init
    def __init__(self, input: SimAccountInput) -> None:
        self._state = input.state
        self._queues = TaskQueues.for_base(workflow.info().task_queue)
        self._changes = 0
        self._operations_run = 0
        self._queued_shown: int | None = None

    @workflow.run
    async def run(self, input: SimAccountInput) -> SimAccountResult:
        if self._state.policy is None:
            self._state.policy = await execute_local(
                SIM_POLICY,
                None,
                start_to_close_timeout=POLICY_TIMEOUT,
                summary="read the worker's FREEBIT_* SIM settings",
            )
            # The requests that started this run wait for the policy too: queue them first.
            await workflow.wait_condition(workflow.all_handlers_finished)
        while not self._idle_and_gap_passed():
            if self._should_continue_as_new():
                await workflow.wait_condition(workflow.all_handlers_finished)
                workflow.continue_as_new(
                    SimAccountInput(state=self._state),
                    initial_versioning_behavior=workflow.ContinueAsNewVersioningBehavior.AUTO_UPGRADE,
                )
            self._show_queue_length()
            head = self._state.queue[0] if self._state.queue else None
            wait = self._wait_before(head)
            if wait > timedelta(0):
                self._describe_wait(head)
                await self._sleep_unless_queue_changes(wait)
                continue
            assert head is not None
            await self._execute(self._state.queue.pop(0))
        await workflow.wait_condition(workflow.all_handlers_finished)
        self._show_queue_length()
        workflow.set_current_details("idle: no operation queued")
        return SimAccountResult(account=self._state.account, operations_run=self._operations_run)

    @workflow.update
    async def request_operation(self, request: OperationRequest) -> OperationAccepted:
        """Queue an operation; answers its id and the earliest time it can run."""
        policy = await self._loaded_policy()
        try:
            validate_plan_code(request.operation, policy.plan_codes)
        except InvalidSimRequestError as refused:
            raise ApplicationError(str(refused), type="InvalidSimRequest") from None
        now = workflow.now()
        delay = (
            policy.network_type_delay
            if isinstance(request.operation, NetworkTypeChange)
            else timedelta(0)
        )
        queued = QueuedOperation(
            op_id=str(workflow.uuid4())[:8],
            operation=request.operation,
            requested_at=now,
            not_before=now + delay,
        )
        self._state.queue.append(queued)
        self._changes += 1
        workflow.logger.info(
            "SIM operation queued",
            extra={**self._log_context(), "op_id": queued.op_id, "operation": self._what(queued)},
        )
        return OperationAccepted(op_id=queued.op_id, earliest_start=self._earliest_start(queued))

    @request_operation.validator
    def _validate_request(self, request: OperationRequest) -> None:
        """Refused before it enters history. Plan codes are the worker's setting: the first
        request of a run, which comes before the setting is read, is checked by the handler."""
        validate_request(self._state.account, request.operation)
        if self._state.policy is not None:
            validate_plan_code(request.operation, self._state.policy.plan_codes)

    @workflow.update
    def cancel_operation(self, request: CancelOperationRequest) -> CancelOperationAnswer:
        """Cancel a queued operation; one that has started cannot be cancelled."""
        for queued in self._state.queue:
            if queued.op_id == request.op_id:
                self._state.queue.remove(queued)
                queued.status = OperationStatus.CANCELLED
                queued.finished_at = workflow.now()
                self._remember(queued)
                self._changes += 1
                return CancelOperationAnswer(
                    cancelled=True, message=f"{self._what(queued)} cancelled"
                )
        running = self._state.running
        if running is not None and running.op_id == request.op_id:
            return CancelOperationAnswer(cancelled=False, message="already running")
        return CancelOperationAnswer(cancelled=False, message="no queued operation with that id")

    @workflow.query
    def overview(self) -> SimAccountOverview:
        return SimAccountOverview(
            account=self._state.account,
            running=self._state.running,
            queue=self._state.queue,
            history=self._state.history,
            next_allowed_at=self._next_allowed_at(),
        )

    def _next_allowed_at(self) -> datetime | None:
        last = self._state.last_operation_at
        return last + self._policy.operation_gap if last else None

    def _earliest_start(self, queued: QueuedOperation) -> datetime:
        """When `queued` could start if everything ahead of it ran as early as allowed."""
        start = self._next_allowed_at() or workflow.now()
        for ahead in self._state.queue:
            start = max(start, ahead.not_before)
            if ahead is queued:
                return start
            start += self._policy.operation_gap
        return start

    def _wait_before(self, head: QueuedOperation | None) -> timedelta:
        now = workflow.now()
        next_allowed = self._next_allowed_at() or now
        start = max(next_allowed, head.not_before) if head else next_allowed
        return max(start - now, timedelta(0))

    def _idle_and_gap_passed(self) -> bool:
        return not self._state.queue and self._wait_before(None) == timedelta(0)

    async def _sleep_unless_queue_changes(self, wait: timedelta) -> None:
        changes = self._changes
        with contextlib.suppress(TimeoutError):
            await workflow.wait_condition(lambda: self._changes != changes, timeout=wait)

    async def _execute(self, queued: QueuedOperation) -> None:
        queued.status = OperationStatus.RUNNING
        queued.started_at = workflow.now()
        self._state.running = queued
        workflow.set_current_details(f"running {self._what(queued)} ({queued.op_id})")
        try:
            activity, call = self._freebit_call(queued)
            await execute(
                activity,
                call,
                task_queue=self._queues.freebit,
                start_to_close_timeout=FREEBIT_CALL_TIMEOUT,
                retry_policy=RetryPolicy(
                    initial_interval=self._policy.operation_gap,
                    backoff_coefficient=1.0,
                    maximum_attempts=self._policy.max_attempts,
                ),
                summary=f"{self._what(queued)} ({queued.op_id})",
            )
            queued.status = OperationStatus.SUCCEEDED
        except ActivityError as error:
            queued.status = OperationStatus.FAILED
            cause = error.cause
            queued.error = cause.message if isinstance(cause, ApplicationError) else str(cause)
        queued.finished_at = workflow.now()
        self._state.last_operation_at = queued.finished_at
        self._state.running = None
        self._operations_run += 1
        self._remember(queued)
        workflow.logger.info(
            "SIM operation finished",
            extra={
                **self._log_context(),
                "op_id": queued.op_id,
                "operation": self._what(queued),
                "status": queued.status.value,
                "error": queued.error,
            },
        )

    def _freebit_call(self, queued: QueuedOperation) -> tuple[ActivityType[Any, None], Any]:
        """The operation's activity and its request."""
        ids = {"op_id": queued.op_id, "account": self._state.account}
        match queued.operation:
            case PlanChange() as change:
                return CHANGE_PLAN, PlanChangeCall(**ids, operation=change)
            case QuotaTopUp() as top_up:
                return ADD_QUOTA, TopUpCall(**ids, operation=top_up)
            case NetworkTypeChange() as change:
                return CHANGE_NETWORK_TYPE, NetworkTypeCall(**ids, operation=change)
            case VoiceOptionsChange() as change:
                return CHANGE_VOICE_OPTIONS, VoiceOptionsCall(**ids, operation=change)
            case Cancellation() as cancellation:
                return CANCEL_ACCOUNT, CancellationCall(**ids, operation=cancellation)

    @property
    def _policy(self) -> SimAccountPolicy:
        assert self._state.policy is not None, "the run reads the policy first"
        return self._state.policy

    async def _loaded_policy(self) -> SimAccountPolicy:
        await workflow.wait_condition(lambda: self._state.policy is not None)
        return self._policy

    def _remember(self, finished: QueuedOperation) -> None:
        self._state.history = [*self._state.history, finished][-HISTORY_KEPT:]

    def _show_queue_length(self) -> None:
        """`SimQueuedOperations`, for the list of SIMs with operations waiting."""
        length = len(self._state.queue)
        if length != self._queued_shown:
            workflow.upsert_search_attributes([SIM_QUEUED_OPERATIONS.value_set(length)])
            self._queued_shown = length

    def _describe_wait(self, head: QueuedOperation | None) -> None:
        start = workflow.now() + self._wait_before(head)
        if head is None:
            details = f"idle; Freebit operation gap ends at {start:%H:%M:%S} UTC"
        else:
            details = f"next operation at {start:%H:%M:%S} UTC: {self._what(head)} ({head.op_id})"
            if len(self._state.queue) > 1:
                details += f"; {len(self._state.queue) - 1} more queued"
        workflow.set_current_details(details)

    def _should_continue_as_new(self) -> bool:
        info = workflow.info()
        return (
            info.is_continue_as_new_suggested()
            or info.get_current_history_length() > self._policy.history_events_limit
        )

    @staticmethod
    def _what(queued: QueuedOperation) -> str:
        return queued.operation.describe()

    def _log_context(self) -> dict[str, Any]:
        return {"sim_account": self._state.account}
