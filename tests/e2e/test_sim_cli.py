"""`portalctl sim show` on the dev server: when the next Freebit operation may start is shown
to the second, as the workflow holds it (an operator waiting for the gap needs the second)."""

from __future__ import annotations

import asyncio
import random

import pytest
from temporalio.testing import WorkflowEnvironment
from typer.testing import CliRunner

from contracts.sim import OperationStatus, QuotaTopUp, sim_workflow_id
from emulators.freebit import NewSimAccount
from starters.cli.app import app
from starters.demo.local_vendors import LocalVendors
from starters.sim_operations import request_sim_operation
from tests.support.polling import wait_until
from workflows.sim_account import SimAccount


@pytest.mark.usefixtures("dev_worker")
async def test_sim_show_gives_the_next_allowed_time_to_the_second(
    dev_env: WorkflowEnvironment,
    task_queue: str,
    vendors: LocalVendors,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    account = f"080{random.randrange(10**8):08d}"
    vendors.freebit.add_account(NewSimAccount(account=account, plan_code="PASI_10GB"))
    handle = dev_env.client.get_workflow_handle_for(SimAccount.run, sim_workflow_id(account))
    await request_sim_operation(
        dev_env.client, account, QuotaTopUp(quota_mb=100), task_queue=task_queue
    )

    async def top_up_done() -> bool:
        overview = await handle.query(SimAccount.overview)
        return any(op.status is OperationStatus.SUCCEEDED for op in overview.history)

    await wait_until(top_up_done, "the top-up has run")
    overview = await handle.query(SimAccount.overview)
    assert overview.next_allowed_at is not None
    monkeypatch.setenv("TEMPORAL_ADDRESS", dev_env.client.service_client.config.target_host)
    monkeypatch.setenv("TEMPORAL_TASK_QUEUE", task_queue)

    shown = await asyncio.to_thread(CliRunner().invoke, app, ["sim", "show", account])
    await handle.terminate("test finished")

    assert shown.exit_code == 0, shown.output
    assert (
        f"  next operation allowed at: {overview.next_allowed_at:%Y-%m-%d %H:%M:%S} UTC"
        in shown.stdout.splitlines()
    )
