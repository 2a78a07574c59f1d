"""A rotation waiting for an operator reminds, in the log and in the UI's current details,
every `reminder_interval` (dev server, the real worker; a one-second interval, waited for,
never timed)."""

from __future__ import annotations

import io
import json
from datetime import timedelta

import pytest
from temporalio.api.sdk.v1 import WorkflowMetadata
from temporalio.client import WorkflowFailureError
from temporalio.testing import WorkflowEnvironment

from activities.policies import PolicyActivities
from contracts.rotation import CredentialKind, HumanStep, RotationPolicy
from starters.rotation import RotationRefusedError, confirm_step, start_rotation
from tests.support.polling import wait_until
from tests.support.secret_store import end_rotations
from tests.support.worker_policies import with_policies
from workers.dependencies import Integrations
from workflows.rotate_credential import RotateCredential

REMINDER = "Credential rotation still waiting for an operator"


@pytest.fixture
def worker_policies(integrations: Integrations) -> PolicyActivities:
    """Reminders every second, set on the worker."""
    reminding = RotationPolicy(reminder_interval=timedelta(seconds=1))
    return with_policies(integrations, rotation=reminding).policies


@pytest.mark.usefixtures("dev_worker")
async def test_a_waiting_rotation_reminds_until_it_is_cancelled(
    dev_env: WorkflowEnvironment, task_queue: str, json_log: io.StringIO
) -> None:
    await end_rotations(dev_env.client)
    handle = await start_rotation(dev_env.client, CredentialKind.WHMCS_API, task_queue=task_queue)

    async def reminded_twice() -> bool:
        status = await handle.query(RotateCredential.status)
        return status.awaiting_staged_version and status.reminders >= 2

    await wait_until(reminded_twice, "two reminders were sent")
    metadata = await handle.query("__temporal_workflow_metadata", result_type=WorkflowMetadata)
    with pytest.raises(RotationRefusedError, match="not a step of a whmcs-api rotation"):
        await confirm_step(dev_env.client, CredentialKind.WHMCS_API, HumanStep.OLD_KEY_REMOVED)
    await handle.cancel()
    with pytest.raises(WorkflowFailureError):
        await handle.result()

    assert metadata.current_details.startswith(
        "whmcs-api: waiting: create new API credentials in WHMCS Admin"
    )
    assert "(reminder " in metadata.current_details
    reminders = [
        record
        for record in map(json.loads, json_log.getvalue().splitlines())
        if record["event"] == REMINDER
    ]
    assert [record["reminder"] for record in reminders][:2] == [1, 2]
    assert {record["credential_kind"] for record in reminders} == {"whmcs-api"}
