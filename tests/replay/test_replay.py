"""Committed histories must replay against today's workflow code: a change that would break
running workflows fails here first (see docs/deployment.md for what a release may change)."""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from workflows.registry import WORKFLOW_RUNNER, WORKFLOWS

HISTORIES = Path(__file__).parent / "histories"
REQUIRED = {
    "provision_order_activated.json",
    "provision_order_failed_then_retried.json",
    "sim_account_two_operations.json",
    "sim_account_cancelled_operation.json",
    "sim_account_refused_plan_code.json",
    "sim_account_continued_as_new.json",
    "call_records_imported.json",
    "call_records_waited_for_file.json",
    "call_records_daily_started.json",
    "call_records_daily_already_imported.json",
    "health_check_recovered.json",
    "health_check_not_picked_up.json",
    "rotate_credential_salesforce_jwt.json",
    "rotate_credential_whmcs_api.json",
    "rotate_credential_freebit_oem.json",
    "rotate_credential_sftp_ssh.json",
    "rotate_credential_refused_then_cancelled.json",
}


def test_required_histories_are_committed() -> None:
    assert {path.name for path in HISTORIES.glob("*.json")} >= REQUIRED


@pytest.mark.parametrize(
    "history",
    [
        WorkflowHistory.from_json(path.stem, path.read_text())
        for path in sorted(HISTORIES.glob("*.json"))
    ],
    ids=lambda history: history.workflow_id,
)
async def test_history_replays(history: WorkflowHistory) -> None:
    replayer = Replayer(
        workflows=WORKFLOWS, workflow_runner=WORKFLOW_RUNNER, data_converter=pydantic_data_converter
    )
    await replayer.replay_workflow(history)
