"""`ProvisionOrder`: an approved Salesforce Order becomes an accepted WHMCS order, and the
result is written back to Salesforce.

Each step is a local activity: vendor calls of a few seconds that need no task queue (their
rate limits are shared limiters in Redis, in the clients), so a clean order runs in one
workflow task, each step recorded as a marker with its summary. Where a checkpoint between two
calls buys nothing they are one activity: the mapping, the payment-method gate and AddOrder
(the first two are reads, and the create is idempotent by its journal and marker, so a retry
of all three together is safe); and the first run writes no Activating status when validation
read the Order Activating with no last error. A step that still fails after its retries is
written back as `Activation_Status__c='Failed'` with a code and a reason; the workflow then
waits, durably, for a manual retry, which resumes at the failed step: completed steps are never
repeated.
"""

from __future__ import annotations

import builtins
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributeUpdate, VersioningBehavior
from temporalio.exceptions import ActivityError, ApplicationError, TimeoutError

from workflows.calls import execute_local
from workflows.search_attributes import (
    ACTIVATION_STATUS,
    ERROR_CODE,
    FAILED_AT,
    FAILED_STEP,
    SALESFORCE_ACCOUNT_ID,
    WHMCS_ORDER_ID,
)

with workflow.unsafe.imports_passed_through():
    from contracts.activity_type import ActivityType
    from contracts.provisioning import (
        ACCEPT_ORDER,
        LOAD_ORDER,
        MAP_AND_CREATE_ORDER,
        MAPPING_MISSING,
        MAPPING_UNAVAILABLE,
        MARK_ORDER_ACTIVATED,
        MARK_ORDER_ACTIVATING,
        MARK_ORDER_FAILED,
        ORDER_MEMO,
        PAYMENT_METHOD_MISSING,
        PRODUCT_NOT_ORDERABLE,
        PROVISIONING_POLICY,
        AcceptOrderRequest,
        ActivationFailure,
        ActivationStatus,
        ActivationSuccess,
        MapAndCreateRequest,
        Order,
        OrderMemo,
        OrderRef,
        ProvisionOrderInput,
        ProvisionOrderResult,
        ProvisionOutcome,
        ProvisionPolicy,
        ProvisionStatus,
        ProvisionStep,
        RetryAnswer,
        RetryRequest,
        StepFailure,
    )

ArgT = TypeVar("ArgT")
ResultT = TypeVar("ResultT")

ALREADY_IN_PROGRESS = "Already in progress"
EVENT_ALREADY_HANDLED = "Event already handled"
SKIPPED_STATUS = "Skipped"
POLICY_TIMEOUT = timedelta(seconds=10)
BACKOFF_AS_TIMER = timedelta(milliseconds=1)
"""A step's retry backoff longer than this is a durable timer in the history, not a sleep in the
worker: visible, kept across a worker restart, skipped by the time-skipping test server. (Zero
would mean the SDK's default, a minute.)"""

_STEP_DESCRIPTIONS = {
    ProvisionStep.VALIDATION: "reading the Order and checking it is Activating",
    ProvisionStep.SF_STATUS_UPDATE: "marking the Order as Activating in Salesforce",
    ProvisionStep.ORDER_DETAILS: "collecting items, quantities and billing cycles",
    ProvisionStep.MAPPING: "mapping the Account to a WHMCS client and items to products",
    ProvisionStep.PAYMENT_METHOD: "checking the WHMCS client has a payment method",
    ProvisionStep.WHMCS_CREATE: "mapping, the payment-method gate, then creating the WHMCS order",
    ProvisionStep.WHMCS_ACCEPT: "accepting the WHMCS order",
    ProvisionStep.SF_SUCCESS_UPDATE: "writing Activated and the WHMCS ids to Salesforce",
}


_STEP_OF_FAILURE = {
    MAPPING_MISSING: ProvisionStep.MAPPING,
    MAPPING_UNAVAILABLE: ProvisionStep.MAPPING,
    PRODUCT_NOT_ORDERABLE: ProvisionStep.MAPPING,
    PAYMENT_METHOD_MISSING: ProvisionStep.PAYMENT_METHOD,
}
"""Refusals of `map_and_create_order` that belong to an earlier step than whmcs_create."""


class _NotActivatingError(Exception):
    """The guard: only an Order in `Activating` is provisioned."""


class _StepFailedError(Exception):
    def __init__(self, failure: StepFailure) -> None:
        super().__init__(f"{failure.step}: {failure.code} {failure.message}")
        self.failure = failure


def _failure_of(
    step: ProvisionStep, error: ActivityError | ApplicationError | TimeoutError
) -> StepFailure:
    """A local activity's failure arrives unwrapped: the application error or timeout itself."""
    cause = error.cause if isinstance(error, ActivityError) else error
    if isinstance(cause, ApplicationError):
        code = str(cause.details[0]) if cause.details else cause.type or "ERROR"
        return StepFailure(step=step, code=code, message=cause.message)
    if isinstance(cause, TimeoutError):
        return StepFailure(step=step, code="ETIMEOUT", message="Activity timed out")
    return StepFailure(step=step, code="ERROR", message=str(cause or error))


@workflow.defn(versioning_behavior=VersioningBehavior.PINNED)
class ProvisionOrder:
    """Pinned: an order runs on the build that started it (seconds when it succeeds; a Failed
    order keeps that build until it is retried or its manual retry wait ends)."""

    @workflow.init
    def __init__(self, input: ProvisionOrderInput) -> None:
        self._input = input
        self._status = ProvisionStatus(order_id=input.order_id)
        self._handled_events = {input.event_id} if input.event_id else set()
        self._retry_requested = False
        self._accepting_retry = False
        self._running = False
        self._policy = ProvisionPolicy()
        self._order: Order | None = None

    @workflow.run
    async def run(self, input: ProvisionOrderInput) -> ProvisionOrderResult:
        self._policy = await execute_local(
            PROVISIONING_POLICY,
            None,
            start_to_close_timeout=POLICY_TIMEOUT,
            summary="read the worker's PROVISION_* settings",
        )
        self._running = True
        workflow.logger.info("Starting fulfillment orchestration", extra=self._log_context())
        while True:
            try:
                await self._run_remaining_steps()
                return self._finish(ProvisionOutcome.ACTIVATED, ActivationStatus.ACTIVATED)
            except _NotActivatingError as guard:
                return self._finish(ProvisionOutcome.SKIPPED, SKIPPED_STATUS, reason=str(guard))
            except _StepFailedError as failed:
                self._open_for_retry()
                await self._report_failure(failed.failure)
            if not await self._wait_for_retry():
                reason = f"no retry within {self._policy.manual_retry_wait}"
                return self._finish(ProvisionOutcome.FAILED, ActivationStatus.FAILED, reason=reason)

    @workflow.query
    def status(self) -> ProvisionStatus:
        return self._status

    @workflow.signal
    def retry(self, request: RetryRequest) -> None:
        """Manual retry from the Temporal UI or a new Platform Event (signal-with-start)."""
        self._accept_retry(request)

    @workflow.update
    def request_retry(self, request: RetryRequest) -> RetryAnswer:
        """Manual retry that answers, for `portalctl order retry`."""
        return self._accept_retry(request)

    def _accept_retry(self, request: RetryRequest) -> RetryAnswer:
        if request.event_id is not None:
            if request.event_id in self._handled_events:
                return RetryAnswer(accepted=False, message=EVENT_ALREADY_HANDLED)
            self._handled_events.add(request.event_id)
        if not self._running:  # the start signal of signal-with-start, delivered before run()
            return RetryAnswer(accepted=False, message="Starting")
        failure = self._status.last_error
        if not self._accepting_retry or self._retry_requested or failure is None:
            workflow.logger.info(ALREADY_IN_PROGRESS, extra=self._log_context())
            return RetryAnswer(accepted=False, message=ALREADY_IN_PROGRESS)
        self._retry_requested = True
        workflow.logger.info(
            "Manual retry requested", extra={**self._log_context(), "reason": request.reason}
        )
        return RetryAnswer(accepted=True, message=f"Retry accepted: resuming at {failure.step}")

    async def _run_remaining_steps(self) -> None:
        if self._status.runs > 1:
            # A manual retry shows the order as Activating again, with last errors cleared,
            # as Salesforce's "Provision / Retry" button does.
            await self._run_step(ProvisionStep.SF_STATUS_UPDATE, self._mark_activating)
        for step, action in self._steps():
            if step not in self._status.completed_steps:
                await self._run_step(step, action)

    def _steps(self) -> list[tuple[ProvisionStep, Callable[[], Awaitable[None]]]]:
        return [
            (ProvisionStep.VALIDATION, self._validate),
            (ProvisionStep.SF_STATUS_UPDATE, self._mark_activating),
            (ProvisionStep.ORDER_DETAILS, self._check_order_details),
            (ProvisionStep.WHMCS_CREATE, self._map_and_create_whmcs_order),
            (ProvisionStep.WHMCS_ACCEPT, self._accept_whmcs_order),
            (ProvisionStep.SF_SUCCESS_UPDATE, self._mark_activated),
        ]

    async def _run_step(self, step: ProvisionStep, action: Callable[[], Awaitable[None]]) -> None:
        self._status.current_step = step
        number = list(ProvisionStep).index(step) + 1
        workflow.set_current_details(
            f"Step {number} of {len(ProvisionStep)}, {step}: {_STEP_DESCRIPTIONS[step]}"
        )
        try:
            await action()
        except (ActivityError, ApplicationError, TimeoutError) as error:
            raise _StepFailedError(_failure_of(step, error)) from error
        self._complete(step)

    def _complete(self, step: ProvisionStep) -> None:
        if step not in self._status.completed_steps:
            self._status.completed_steps.append(step)
        workflow.logger.info(step.value, extra={**self._log_context(), "step": step.value})

    async def _validate(self) -> None:
        self._order = await self._call(
            LOAD_ORDER,
            OrderRef(order_id=self._input.order_id),
            summary="read the Order with its items",
        )
        status = self._order.activation_status
        self._status.activation_status = status
        if status == ActivationStatus.ACTIVATED:
            raise _NotActivatingError("Order is already Activated")
        if status != ActivationStatus.ACTIVATING:
            raise _NotActivatingError(f"Activation_Status__c is {status!r}, not 'Activating'")

    async def _mark_activating(self) -> None:
        if not self._activating_as_read():
            await self._call(
                MARK_ORDER_ACTIVATING,
                OrderRef(order_id=self._input.order_id),
                summary="Activation_Status__c = Activating, clear last error",
            )
        self._set_activation_status(ActivationStatus.ACTIVATING, *self._known_ids())

    def _activating_as_read(self) -> bool:
        """The first run's validation read the Order Activating with no last error to clear."""
        first_run = self._status.runs == 1
        return first_run and not self._loaded_order().has_last_error

    async def _check_order_details(self) -> None:
        """No call needed: the validation query already read the items and their products."""
        if not self._loaded_order().items:
            raise _StepFailedError(
                StepFailure(
                    step=ProvisionStep.ORDER_DETAILS,
                    code="VALIDATION",
                    message="Order has no items",
                )
            )

    async def _map_and_create_whmcs_order(self) -> None:
        """The mapping, the product check, the payment-method gate and AddOrder in one
        activity; their refusals are reported at the mapping and payment_method steps."""
        try:
            await self._create_whmcs_order()
        except (ActivityError, ApplicationError) as error:
            cause = error.cause if isinstance(error, ActivityError) else error
            refusal = cause.type if isinstance(cause, ApplicationError) else None
            step = _STEP_OF_FAILURE.get(refusal or "")
            if step is not None:
                raise _StepFailedError(_failure_of(step, error)) from error
            raise
        self._complete(ProvisionStep.MAPPING)
        self._complete(ProvisionStep.PAYMENT_METHOD)

    async def _create_whmcs_order(self) -> None:
        order = self._loaded_order()
        created = await self._call(
            MAP_AND_CREATE_ORDER,
            MapAndCreateRequest(sf_order_id=self._input.order_id, order=order),
            summary=f"map Account {order.account_id} and {len(order.items)} item(s), "
            "GetPayMethods, AddOrder",
        )
        self._status.whmcs_order_id = created.order_id
        self._status.service_ids_by_item = created.service_ids_by_item

    async def _accept_whmcs_order(self) -> None:
        order_id = self._whmcs_order_id()
        await self._call(
            ACCEPT_ORDER,
            AcceptOrderRequest(order_id=order_id),
            summary=f"AcceptOrder {order_id}",
        )

    async def _mark_activated(self) -> None:
        await self._call(
            MARK_ORDER_ACTIVATED,
            ActivationSuccess(
                order_id=self._input.order_id,
                whmcs_order_id=self._whmcs_order_id(),
                service_ids_by_item=self._status.service_ids_by_item,
            ),
            summary=f"Activated, WHMCS order {self._whmcs_order_id()}",
        )

    async def _report_failure(self, failure: StepFailure) -> None:
        self._status.last_error = failure
        self._status.current_step = failure.step
        self._set_activation_status(
            ActivationStatus.FAILED,
            *self._known_ids(),
            FAILED_STEP.value_set(failure.step.value),
            ERROR_CODE.value_set(failure.code),
            FAILED_AT.value_set(workflow.now()),
        )
        self._update_memo(failure)
        context = {
            **self._log_context(),
            "failed_step": failure.step.value,
            "error_code": failure.code,
            "error_message": failure.message,
        }
        workflow.logger.error("Order marked Failed", extra=context)
        try:
            await self._call(
                MARK_ORDER_FAILED,
                ActivationFailure(
                    order_id=self._input.order_id,
                    error_code=failure.code,
                    error_message=failure.message,
                ),
                summary=f"Activation_Status__c = Failed ({failure.code})",
            )
        except (ActivityError, ApplicationError, TimeoutError) as error:
            workflow.logger.error(
                "Could not write the Failed status to Salesforce",
                extra={**context, "write_back_error": str(error.cause or error)},
            )

    def _open_for_retry(self) -> None:
        self._accepting_retry = True
        self._retry_requested = False

    async def _wait_for_retry(self) -> bool:
        failure = self._status.last_error
        assert failure is not None
        workflow.set_current_details(
            f"waiting for manual retry: {failure.code} {failure.message} (failed at "
            f"{failure.step}). Retry with `portalctl order retry {self._input.order_id}` or "
            "Provision / Retry in Salesforce."
        )
        self._status.waiting_for_retry = True
        try:
            await workflow.wait_condition(
                lambda: self._retry_requested, timeout=self._policy.manual_retry_wait
            )
        except builtins.TimeoutError:
            return False
        finally:
            self._status.waiting_for_retry = False
            self._accepting_retry = False
        self._status.runs += 1
        workflow.upsert_search_attributes(
            [FAILED_STEP.value_unset(), ERROR_CODE.value_unset(), FAILED_AT.value_unset()]
        )
        self._update_memo()
        return True

    def _finish(
        self, outcome: ProvisionOutcome, activation_status: str, reason: str | None = None
    ) -> ProvisionOrderResult:
        self._set_activation_status(activation_status, *self._known_ids())
        failed = outcome is ProvisionOutcome.FAILED
        self._update_memo(self._status.last_error if failed else None)
        self._status.current_step = None
        workflow.set_current_details(f"{outcome}" + (f": {reason}" if reason else ""))
        workflow.logger.info(
            f"Provisioning {outcome}", extra={**self._log_context(), "reason": reason}
        )
        return ProvisionOrderResult(
            order_id=self._input.order_id,
            outcome=outcome,
            reason=reason,
            whmcs_order_id=self._status.whmcs_order_id,
            service_ids_by_item=self._status.service_ids_by_item,
        )

    async def _call(
        self, activity: ActivityType[ArgT, ResultT], arg: ArgT, *, summary: str
    ) -> ResultT:
        return await execute_local(
            activity,
            arg,
            start_to_close_timeout=self._policy.call_timeout,
            retry_policy=self._retry_policy(),
            local_retry_threshold=BACKOFF_AS_TIMER,
            summary=summary,
        )

    def _retry_policy(self) -> RetryPolicy:
        return RetryPolicy(
            initial_interval=self._policy.retry_initial_interval,
            backoff_coefficient=2.0,
            maximum_attempts=self._policy.max_attempts,
        )

    def _set_activation_status(self, status: str, *others: SearchAttributeUpdate[Any]) -> None:
        """With the other search attributes that change with it: one upsert, one history event
        and one visibility write instead of one each."""
        self._status.activation_status = status
        workflow.upsert_search_attributes([ACTIVATION_STATUS.value_set(status), *others])

    def _known_ids(self) -> list[SearchAttributeUpdate[Any]]:
        account = self._order.account_id if self._order else None
        whmcs_order = self._status.whmcs_order_id
        return [
            *([SALESFORCE_ACCOUNT_ID.value_set(account)] if account else []),
            *([WHMCS_ORDER_ID.value_set(str(whmcs_order))] if whmcs_order else []),
        ]

    def _update_memo(self, failure: StepFailure | None = None) -> None:
        memo = OrderMemo(
            summary=self._summary(),
            runs=self._status.runs,
            failure_message=failure.message if failure else None,
        )
        workflow.upsert_memo({ORDER_MEMO: memo})

    def _summary(self) -> str:
        order = self._order
        if order is None:
            return f"Order {self._input.order_id}"
        number = order.order_number or order.id
        return f"Order {number} for Account {order.account_id}, {len(order.items)} item(s)"

    def _log_context(self) -> dict[str, Any]:
        return {"order_id": self._input.order_id, "run": self._status.runs}

    def _loaded_order(self) -> Order:
        assert self._order is not None, "validation runs first"
        return self._order

    def _whmcs_order_id(self) -> int:
        assert self._status.whmcs_order_id is not None, "whmcs_create runs first"
        return self._status.whmcs_order_id
