"""`RotateCredential` (id `rotate-{kind}`): one vendor credential replaced, step by step,
following the runbook's checklists; an operator steers the human steps.

- salesforce-jwt: generate an RSA key + certificate -> wait for `certificate-uploaded` ->
  JWT login with the new key -> promote -> wait for `old-certificate-removed`.
- whmcs-api: wait for a staged identifier/secret -> `GetClients` with it -> promote ->
  wait for `old-credential-disabled`.
- freebit-oem: wait for a staged OEM key -> authenticate with it -> promote -> delete
  `freebit:auth:token` -> authenticate again through the worker's client.
- sftp-ssh: generate an Ed25519 key -> show the public key and log in with it every
  `probe_interval` (or at once on `public-key-authorized`) until the server accepts it ->
  promote -> connectivity test through the worker's client -> wait for `old-key-removed`.

A failed verification never promotes: the reason is shown, a staged version is discarded
and the workflow waits for the operator (a new staged version, or the human step confirmed
again for a generated key). Every wait for a human reminds every `reminder_interval`.
Cancelling discards the candidate and leaves the active version alone. Only version
numbers enter history, never secret material.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from datetime import timedelta
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy, VersioningBehavior
from temporalio.exceptions import ActivityError, ApplicationError

from workflows.calls import execute, execute_local
from workflows.search_attributes import CREDENTIAL_KIND

with workflow.unsafe.imports_passed_through():
    from contracts.activity_type import ActivityType
    from contracts.rotation import (
        CLEAR_FREEBIT_AUTH_KEY,
        DESCRIBE_ACTIVE,
        DESCRIBE_CANDIDATE,
        DISCARD,
        GENERATE_CANDIDATE,
        HUMAN_STEPS,
        PROMOTE,
        ROTATION_POLICY,
        STAGED_KINDS,
        VERIFY_FREEBIT_KEY,
        VERIFY_SALESFORCE_KEY,
        VERIFY_SFTP_KEY,
        VERIFY_WHMCS_CREDENTIAL,
        ConfirmRequest,
        CredentialKind,
        HandlerAnswer,
        HumanStep,
        KindRef,
        PromotionResult,
        RotateCredentialInput,
        RotateCredentialResult,
        RotationPhase,
        RotationPolicy,
        RotationStatus,
        StageRequest,
        VersionCheck,
        VersionInfo,
        VersionRef,
    )
    from contracts.task_queues import TaskQueues

ArgT = TypeVar("ArgT")
ResultT = TypeVar("ResultT")

STORE_TIMEOUT = timedelta(seconds=30)
VERIFY_TIMEOUT = timedelta(minutes=2)
POLICY_TIMEOUT = timedelta(seconds=10)
STORE_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_attempts=10)
VERIFY_RETRY = RetryPolicy(initial_interval=timedelta(seconds=2), maximum_attempts=3)

_VERIFICATIONS = {
    CredentialKind.SALESFORCE_JWT: ("salesforce", VERIFY_SALESFORCE_KEY),
    CredentialKind.WHMCS_API: ("whmcs", VERIFY_WHMCS_CREDENTIAL),
    CredentialKind.FREEBIT_OEM: ("freebit", VERIFY_FREEBIT_KEY),
    CredentialKind.SFTP_SSH: ("sftp", VERIFY_SFTP_KEY),
}


class _VerificationFailedError(Exception):
    pass


@workflow.defn(versioning_behavior=VersioningBehavior.PINNED)
class RotateCredential:
    """Pinned: a rotation half-way never meets code it did not start with (rare, hours to days;
    cancel and start it again to move it to a new build)."""

    @workflow.init
    def __init__(self, input: RotateCredentialInput) -> None:
        self._kind = input.kind
        self._policy = RotationPolicy()
        self._status = RotationStatus(kind=input.kind)
        self._queues = TaskQueues.for_base(workflow.info().task_queue)
        self._confirmed: set[HumanStep] = set()
        self._staged_version: int | None = None
        self._next_reminder = workflow.now()

    @workflow.run
    async def run(self, input: RotateCredentialInput) -> RotateCredentialResult:
        workflow.upsert_search_attributes([CREDENTIAL_KIND.value_set(input.kind)])
        self._policy = await execute_local(
            ROTATION_POLICY,
            None,
            start_to_close_timeout=POLICY_TIMEOUT,
            summary="read the worker's ROTATION_* settings",
        )
        workflow.logger.info("Credential rotation started", extra=self._log_context())
        active = await self._store_activity(
            DESCRIBE_ACTIVE, KindRef(kind=self._kind), "read the active version"
        )
        self._status.previous = active.version
        flows = {
            CredentialKind.SALESFORCE_JWT: self._rotate_salesforce_key,
            CredentialKind.WHMCS_API: self._rotate_whmcs_credential,
            CredentialKind.FREEBIT_OEM: self._rotate_freebit_key,
            CredentialKind.SFTP_SSH: self._rotate_sftp_key,
        }
        try:
            promotion = await flows[input.kind]()
        except asyncio.CancelledError:
            await self._abandon()
            raise
        self._describe(
            RotationPhase.COMPLETED,
            f"done: {self._kind} v{promotion.active} is active"
            + (f", v{promotion.retired} retired" if promotion.retired else ""),
        )
        workflow.logger.info("Credential rotation completed", extra=self._log_context())
        return RotateCredentialResult(
            kind=self._kind, active_version=promotion.active, retired_version=promotion.retired
        )

    @workflow.query
    def status(self) -> RotationStatus:
        return self._status

    @workflow.signal
    def confirm(self, request: ConfirmRequest) -> None:
        """A human step is done (Temporal UI); ignored, with a log line, when not awaited."""
        self._accept_confirmation(request)

    @workflow.update
    def request_confirm(self, request: ConfirmRequest) -> HandlerAnswer:
        """The same, answering (`portalctl rotate confirm`)."""
        return self._accept_confirmation(request)

    @request_confirm.validator
    def _validate_confirm(self, request: ConfirmRequest) -> None:
        refusal = self._confirmation_refusal(request.step)
        if refusal:
            raise ValueError(refusal)

    @workflow.signal
    def stage(self, request: StageRequest) -> None:
        """A new version was staged in the secret store (Temporal UI); ignored when not awaited."""
        self._accept_staged(request)

    @workflow.update
    def request_stage(self, request: StageRequest) -> HandlerAnswer:
        """The same, answering (`portalctl rotate stage`)."""
        return self._accept_staged(request)

    @request_stage.validator
    def _validate_stage(self, request: StageRequest) -> None:
        refusal = self._staging_refusal()
        if refusal:
            raise ValueError(refusal)

    async def _rotate_salesforce_key(self) -> PromotionResult:
        candidate = await self._generate("an RSA key pair and its X.509 certificate")
        sentence = (
            f"upload the certificate of v{candidate.version} ({candidate.fingerprint}) to the "
            "Connected App (portalctl rotate cert), keep the old one, then "
            "confirm certificate-uploaded"
        )
        while True:
            await self._wait_for_step(HumanStep.CERTIFICATE_UPLOADED, sentence)
            if await self._verified(candidate, "a JWT login with the new key"):
                break
            sentence = (
                f"Salesforce refused v{candidate.version} "
                f"({self._status.verification_failures[-1]}): check the certificate uploaded to "
                "the Connected App, then confirm certificate-uploaded again"
            )
        promotion = await self._promote(candidate)
        await self._wait_for_step(
            HumanStep.OLD_CERTIFICATE_REMOVED,
            f"v{promotion.active} is in use: remove the old certificate"
            f"{self._previous_fingerprint()} from the Connected App, then confirm "
            "old-certificate-removed",
        )
        return promotion

    async def _rotate_whmcs_credential(self) -> PromotionResult:
        candidate = await self._staged_and_verified(
            "create new API credentials in WHMCS Admin (Setup > Staff Management > API "
            "Credentials) and stage them: portalctl rotate stage whmcs-api",
            "GetClients with the new identifier and secret",
        )
        promotion = await self._promote(candidate)
        await self._wait_for_step(
            HumanStep.OLD_CREDENTIAL_DISABLED,
            f"v{promotion.active} is in use: disable the old API credential in WHMCS Admin, "
            "then confirm old-credential-disabled",
        )
        return promotion

    async def _rotate_freebit_key(self) -> PromotionResult:
        candidate = await self._staged_and_verified(
            "request a new OEM key from Freebit and stage it: portalctl rotate stage freebit-oem",
            "an OEM authentication with the new key",
        )
        promotion = await self._promote(candidate)
        self._describe(RotationPhase.CLEARING_AUTH_KEY, "deleting freebit:auth:token")
        await execute(
            CLEAR_FREEBIT_AUTH_KEY,
            KindRef(kind=self._kind),
            task_queue=self._queues.freebit,
            start_to_close_timeout=STORE_TIMEOUT,
            retry_policy=STORE_RETRY,
            summary="delete freebit:auth:token",
        )
        await self._verify_after_promotion(candidate, "authenticating again with the new key")
        return promotion

    async def _rotate_sftp_key(self) -> PromotionResult:
        candidate = await self._generate("an Ed25519 SSH key pair")
        while not await self._probe_until_accepted(candidate):
            await self._wait_for_step(
                HumanStep.PUBLIC_KEY_AUTHORIZED,
                f"the SFTP server did not accept v{candidate.version} within "
                f"{self._policy.probe_deadline}: check with the SFTP administrator, then "
                "confirm public-key-authorized to try again",
            )
        promotion = await self._promote(candidate)
        await self._verify_after_promotion(candidate, "SFTP connectivity test")
        await self._wait_for_step(
            HumanStep.OLD_KEY_REMOVED,
            f"v{promotion.active} is in use: ask the SFTP administrator to remove the old "
            f"key{self._previous_fingerprint()}, then confirm old-key-removed",
        )
        return promotion

    async def _generate(self, what: str) -> VersionInfo:
        self._describe(RotationPhase.GENERATING, f"generating {what}")
        candidate = await self._store_activity(
            GENERATE_CANDIDATE, KindRef(kind=self._kind), f"generate {what}"
        )
        self._status.candidate = candidate
        workflow.logger.info(
            "Credential version generated", extra=self._log_context(candidate.fingerprint)
        )
        return candidate

    async def _staged_and_verified(self, request_sentence: str, check: str) -> VersionInfo:
        sentence = request_sentence
        while True:
            version = await self._wait_for_staged_version(sentence)
            try:
                candidate = await self._store_activity(
                    DESCRIBE_CANDIDATE,
                    VersionRef(kind=self._kind, version=version),
                    f"read staged v{version}",
                )
            except ActivityError as error:
                sentence = f"{_reason(error)}; stage another version"
                continue
            self._status.candidate = candidate
            if await self._verified(candidate, check):
                return candidate
            await self._discard(candidate)
            sentence = (
                f"v{candidate.version} was refused ({self._status.verification_failures[-1]}) "
                "and discarded; stage a corrected version"
            )

    async def _probe_until_accepted(self, candidate: VersionInfo) -> bool:
        """Log in with the new key until the server accepts it or the deadline passes."""
        give_up = workflow.now() + self._policy.probe_deadline
        self._begin_wait(
            f"give the SFTP administrator this public key for v{candidate.version} "
            f"({candidate.fingerprint}): portalctl rotate pubkey; logging in with it "
            f"every {self._policy.probe_interval} (confirm public-key-authorized to try now)",
            step=HumanStep.PUBLIC_KEY_AUTHORIZED,
        )
        while True:
            try:
                await self._verification(candidate, "log in with the new key")
                return True
            except _VerificationFailedError:
                pass
            wait = min(self._policy.probe_interval, give_up - workflow.now())
            if wait <= timedelta(0):
                self._end_wait()
                return False
            await self._wait(lambda: HumanStep.PUBLIC_KEY_AUTHORIZED in self._confirmed, wait)
            self._confirmed.discard(HumanStep.PUBLIC_KEY_AUTHORIZED)

    async def _verified(self, candidate: VersionInfo, check: str) -> bool:
        self._describe(RotationPhase.VERIFYING, f"verifying v{candidate.version}: {check}")
        try:
            await self._verification(candidate, check)
        except _VerificationFailedError:
            return False
        return True

    async def _verification(self, candidate: VersionInfo, check: str) -> None:
        """Raises _VerificationFailedError, after recording why."""
        try:
            await self._run_verification(VersionCheck(kind=self._kind, version=candidate.version))
        except ActivityError as error:
            reason = _reason(error)
            self._status.verification_failures.append(f"v{candidate.version}: {reason}")
            workflow.logger.warning(
                "Credential verification failed: not promoted",
                extra={**self._log_context(candidate.fingerprint), "reason": reason},
            )
            raise _VerificationFailedError(reason) from None
        workflow.logger.info(
            f"Credential verified: {check}", extra=self._log_context(candidate.fingerprint)
        )

    async def _verify_after_promotion(self, candidate: VersionInfo, check: str) -> None:
        self._describe(
            RotationPhase.VERIFYING_AFTER_PROMOTION, f"v{candidate.version} promoted: {check}"
        )
        request = VersionCheck(
            kind=self._kind, version=candidate.version, through_worker_clients=True
        )
        try:
            await self._run_verification(request)
        except ActivityError as error:
            raise ApplicationError(
                f"{self._kind} v{candidate.version} is active but {check} failed: "
                f"{_reason(error)}; the previous version is retired, not deleted",
                type="VerificationAfterPromotionFailed",
            ) from error

    async def _run_verification(self, request: VersionCheck) -> VersionRef:
        queue, verify = _VERIFICATIONS[self._kind]
        return await execute(
            verify,
            request,
            task_queue=getattr(self._queues, queue),
            start_to_close_timeout=VERIFY_TIMEOUT,
            retry_policy=VERIFY_RETRY,
            summary=f"verify {self._kind} v{request.version}",
        )

    async def _promote(self, candidate: VersionInfo) -> PromotionResult:
        self._describe(RotationPhase.PROMOTING, f"promoting v{candidate.version}")
        promotion = await self._store_activity(
            PROMOTE,
            VersionRef(kind=self._kind, version=candidate.version),
            f"promote v{candidate.version}",
        )
        self._status.promoted = True
        workflow.logger.info(
            "Credential version promoted", extra=self._log_context(candidate.fingerprint)
        )
        return promotion

    async def _discard(self, candidate: VersionInfo) -> None:
        await self._store_activity(
            DISCARD,
            VersionRef(kind=self._kind, version=candidate.version),
            f"discard v{candidate.version}",
        )

    async def _abandon(self) -> None:
        """Cancelled: discard an unpromoted candidate; the active version stays as it is."""
        candidate = self._status.candidate
        if candidate is not None and not self._status.promoted:
            await self._discard(candidate)
        kept = "" if self._status.promoted else ", the active version is unchanged"
        self._describe(RotationPhase.CANCELLED, f"cancelled{kept}")
        workflow.logger.info("Credential rotation cancelled", extra=self._log_context())

    async def _store_activity(
        self,
        activity: ActivityType[ArgT, ResultT],
        arg: ArgT,
        what: str,
    ) -> ResultT:
        return await execute(
            activity,
            arg,
            task_queue=self._queues.portal,
            start_to_close_timeout=STORE_TIMEOUT,
            retry_policy=STORE_RETRY,
            summary=what,
        )

    async def _wait_for_step(self, step: HumanStep, sentence: str) -> None:
        self._begin_wait(sentence, step=step)
        await self._wait(lambda: step in self._confirmed)
        self._confirmed.discard(step)
        self._end_wait()

    async def _wait_for_staged_version(self, sentence: str) -> int:
        self._begin_wait(sentence, staged=True)
        await self._wait(lambda: self._staged_version is not None)
        version, self._staged_version = self._staged_version, None
        self._end_wait()
        assert version is not None
        return version

    def _begin_wait(
        self, sentence: str, *, step: HumanStep | None = None, staged: bool = False
    ) -> None:
        self._status.awaiting_step = step
        self._status.awaiting_staged_version = staged
        self._next_reminder = workflow.now() + self._policy.reminder_interval
        self._describe(RotationPhase.WAITING, f"waiting: {sentence}")
        workflow.logger.info(
            "Credential rotation waiting for an operator", extra=self._log_context()
        )

    def _end_wait(self) -> None:
        self._status.awaiting_step = None
        self._status.awaiting_staged_version = False

    async def _wait(self, ready: Callable[[], bool], at_most: timedelta | None = None) -> None:
        """Until `ready()` or `at_most` passed, reminding every reminder_interval."""
        give_up = None if at_most is None else workflow.now() + at_most
        sentence = self._status.details
        while not ready():
            now = workflow.now()
            if give_up is not None and now >= give_up:
                return
            if now >= self._next_reminder:
                self._remind(sentence)
                continue
            wake = self._next_reminder if give_up is None else min(self._next_reminder, give_up)
            with contextlib.suppress(TimeoutError):
                await workflow.wait_condition(ready, timeout=wake - now)

    def _remind(self, sentence: str) -> None:
        self._status.reminders += 1
        self._next_reminder += self._policy.reminder_interval
        workflow.logger.warning(
            "Credential rotation still waiting for an operator",
            extra={**self._log_context(), "reminder": self._status.reminders},
        )
        workflow.set_current_details(
            f"{sentence} (reminder {self._status.reminders}, {workflow.now():%Y-%m-%d %H:%M} UTC)"
        )

    def _describe(self, phase: RotationPhase, sentence: str) -> None:
        self._status.phase = phase
        self._status.details = f"{self._kind}: {sentence}"
        workflow.set_current_details(self._status.details)

    def _accept_confirmation(self, request: ConfirmRequest) -> HandlerAnswer:
        refusal = self._confirmation_refusal(request.step)
        if refusal:
            workflow.logger.warning(
                "Confirmation ignored", extra={**self._log_context(), "reason": refusal}
            )
            return HandlerAnswer(accepted=False, message=refusal)
        self._confirmed.add(request.step)
        workflow.logger.info(
            "Human step confirmed", extra={**self._log_context(), "step": request.step}
        )
        return HandlerAnswer(accepted=True, message=f"{request.step} confirmed")

    def _confirmation_refusal(self, step: HumanStep) -> str | None:
        if step not in HUMAN_STEPS[self._kind]:
            known = ", ".join(HUMAN_STEPS[self._kind]) or "none"
            return f"{step} is not a step of a {self._kind} rotation (its steps: {known})"
        if self._status.awaiting_step != step:
            return f"{step} is not awaited now; {self._status.details}"
        return None

    def _accept_staged(self, request: StageRequest) -> HandlerAnswer:
        refusal = self._staging_refusal()
        if refusal:
            workflow.logger.warning(
                "Staged version ignored", extra={**self._log_context(), "reason": refusal}
            )
            return HandlerAnswer(accepted=False, message=refusal)
        self._staged_version = request.version
        workflow.logger.info(
            "Staged version received", extra={**self._log_context(), "version": request.version}
        )
        return HandlerAnswer(accepted=True, message=f"v{request.version} will be verified")

    def _staging_refusal(self) -> str | None:
        if self._kind not in STAGED_KINDS:
            return f"a {self._kind} rotation generates its own key; nothing can be staged"
        if not self._status.awaiting_staged_version:
            return f"no staged version is awaited now; {self._status.details}"
        return None

    def _previous_fingerprint(self) -> str:
        previous = self._status.previous
        if previous is None:
            return ""
        fingerprint = f", {previous.fingerprint}" if previous.fingerprint else ""
        return f" (v{previous.version}{fingerprint})"

    def _log_context(self, fingerprint: str | None = None) -> dict[str, Any]:
        candidate = self._status.candidate
        context: dict[str, Any] = {
            "credential_kind": str(self._kind),
            "phase": str(self._status.phase),
            "waiting_for": self._status.details
            if self._status.phase is RotationPhase.WAITING
            else None,
            "candidate_version": candidate.version if candidate else None,
        }
        if fingerprint:
            context["fingerprint"] = fingerprint
        return context


def _reason(error: ActivityError) -> str:
    cause = error.cause
    if isinstance(cause, ApplicationError):
        return cause.message
    return str(cause or error)
