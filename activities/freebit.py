"""Freebit SIM operations, each run at most once per operation id.

Freebit takes no idempotency key, so every call is journaled (PostgreSQL) before it is sent.
An attempt that finds an earlier one `sent` with an unknown outcome (a timeout, a killed
worker) checks the account first: a plan, network type, voice option or cancellation that is
already in place is not sent again. A top-up cannot be checked that way, so it is reported as
failed ("outcome unknown") instead of risking a second top-up.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from temporalio import activity

from contracts.sim import (
    ADD_QUOTA,
    CANCEL_ACCOUNT,
    CHANGE_NETWORK_TYPE,
    CHANGE_PLAN,
    CHANGE_VOICE_OPTIONS,
    CancellationCall,
    NetworkTypeCall,
    PlanChangeCall,
    TopUpCall,
    VoiceOptionsCall,
)
from integrations.errors import BusinessError, IntegrationError
from integrations.freebit.client import FreebitClient
from integrations.freebit.errors import AMBIGUOUS_ERROR_CODES
from integrations.freebit.models import AccountDetail
from integrations.operation_journal import CallState, OperationJournal

AlreadyApplied = Callable[[AccountDetail], bool]
OperationCall = PlanChangeCall | TopUpCall | NetworkTypeCall | VoiceOptionsCall | CancellationCall


class OutcomeUnknownError(BusinessError):
    def __init__(self, what: str) -> None:
        super().__init__(
            "OUTCOME_UNKNOWN",
            f"{what}: an earlier attempt may have been applied; "
            "check the account before requesting it again",
        )


class FreebitActivities:
    def __init__(self, client: FreebitClient, journal: OperationJournal) -> None:
        self._client = client
        self._journal = journal

    @activity.defn(name=CHANGE_PLAN.name)
    async def change_plan(self, request: PlanChangeCall) -> None:
        plan = request.operation
        await self._once(
            request,
            lambda: self._client.change_plan(request.account, plan),
            already_applied=None if plan.run_time else lambda d: d.plan_code == plan.plan_code,
        )

    @activity.defn(name=ADD_QUOTA.name)
    async def add_quota(self, request: TopUpCall) -> None:
        await self._once(
            request,
            lambda: self._client.add_quota(request.account, request.operation),
            already_applied=None,
        )

    @activity.defn(name=CHANGE_NETWORK_TYPE.name)
    async def change_network_type(self, request: NetworkTypeCall) -> None:
        change = request.operation
        await self._once(
            request,
            lambda: self._client.change_network_type(request.account, change),
            already_applied=lambda d: d.contract_line == change.contract_line,
        )

    @activity.defn(name=CHANGE_VOICE_OPTIONS.name)
    async def change_voice_options(self, request: VoiceOptionsCall) -> None:
        change = request.operation
        await self._once(
            request,
            lambda: self._client.change_voice_options(request.account, change),
            already_applied=lambda d: (
                change.voice_mail in (None, d.voice_mail)
                and change.call_waiting in (None, d.call_waiting)
            ),
        )

    @activity.defn(name=CANCEL_ACCOUNT.name)
    async def cancel_account(self, request: CancellationCall) -> None:
        await self._once(
            request,
            lambda: self._client.cancel_account(request.account, request.operation),
            already_applied=lambda d: d.cancellation_requested,
        )

    async def _once(
        self,
        request: OperationCall,
        call: Callable[[], Awaitable[None]],
        *,
        already_applied: AlreadyApplied | None,
    ) -> None:
        account, op_id = request.account, request.op_id
        what = request.operation.describe()
        previous = await self._journal.state(account, op_id)
        if previous is CallState.DONE:
            return
        if previous is CallState.SENT:
            if already_applied is None:
                raise OutcomeUnknownError(what)
            if already_applied(await self._client.account_detail(account)):
                activity.logger.info("Freebit operation already applied", extra={"op_id": op_id})
                await self._journal.record(account, op_id, what, CallState.DONE)
                return
        await self._journal.record(account, op_id, what, CallState.SENT)
        try:
            await call()
        except IntegrationError as error:
            if error.code not in AMBIGUOUS_ERROR_CODES:
                await self._journal.record(account, op_id, what, CallState.NOT_APPLIED)
            raise
        await self._journal.record(account, op_id, what, CallState.DONE)
