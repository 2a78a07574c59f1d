"""Starting and steering `RotateCredential`: the one place that knows its id, its start
semantics and how a new secret reaches it (through the store, never through Temporal)."""

from __future__ import annotations

import asyncio

from temporalio.client import Client, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import WorkflowAlreadyStartedError

from contracts.rotation import (
    ConfirmRequest,
    CredentialKind,
    HandlerAnswer,
    HumanStep,
    RotateCredentialInput,
    RotateCredentialResult,
    RotationStatus,
    StageRequest,
    rotation_workflow_id,
)
from integrations.secrets.material import staged_secret
from integrations.secrets.store import SecretStore
from workflows.rotate_credential import RotateCredential
from workflows.search_attributes import CREDENTIAL_KIND

RotationHandle = WorkflowHandle[RotateCredential, RotateCredentialResult]


class RotationRefusedError(Exception):
    """The rotation cannot take this request now; the message says why and what it waits for."""


async def start_rotation(
    client: Client, kind: CredentialKind, *, task_queue: str
) -> RotationHandle:
    """Start the kind's rotation; RotationRefusedError while one is running (one per kind)."""
    try:
        return await client.start_workflow(
            RotateCredential.run,
            RotateCredentialInput(kind=kind),
            id=rotation_workflow_id(kind),
            task_queue=task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
            id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
            search_attributes=TypedSearchAttributes([SearchAttributePair(CREDENTIAL_KIND, kind)]),
            static_summary=f"rotate the {kind} credential",
        )
    except WorkflowAlreadyStartedError:
        raise RotationRefusedError(
            f"a {kind} rotation is already running ({rotation_workflow_id(kind)}): "
            f"see portalctl rotate status {kind}, or cancel it first"
        ) from None


def rotation_handle(client: Client, kind: CredentialKind) -> RotationHandle:
    return client.get_workflow_handle_for(RotateCredential.run, rotation_workflow_id(kind))


async def rotation_status(client: Client, kind: CredentialKind) -> RotationStatus:
    return await rotation_handle(client, kind).query(RotateCredential.status)


async def stage_secret(
    client: Client, store: SecretStore, kind: CredentialKind, text: str
) -> HandlerAnswer:
    """Write the operator's secret into the store as a staged version, then hand the running
    rotation its version number; the version is discarded again if the rotation refuses it."""
    value = staged_secret(kind, text)
    status = await rotation_status(client, kind)
    if not status.awaiting_staged_version:
        raise RotationRefusedError(f"nothing to stage now: {status.details}")
    staged = await asyncio.to_thread(store.stage, kind, value, origin="staged by an operator")
    try:
        return await rotation_handle(client, kind).execute_update(
            RotateCredential.request_stage, StageRequest(version=staged.version)
        )
    except WorkflowUpdateFailedError as error:
        await asyncio.to_thread(store.discard, kind, staged.version)
        raise RotationRefusedError(_update_refusal(error)) from None


async def confirm_step(client: Client, kind: CredentialKind, step: HumanStep) -> HandlerAnswer:
    try:
        return await rotation_handle(client, kind).execute_update(
            RotateCredential.request_confirm, ConfirmRequest(step=step)
        )
    except WorkflowUpdateFailedError as error:
        raise RotationRefusedError(_update_refusal(error)) from None


def _update_refusal(error: WorkflowUpdateFailedError) -> str:
    cause = error.cause
    return str(getattr(cause, "message", None) or cause or error)
