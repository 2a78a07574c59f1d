"""Workflows that break the rules, for the test that the worker's sandbox catches them."""

from __future__ import annotations

import datetime
from pathlib import Path

from temporalio import workflow

from contracts.provisioning import OrderRef


@workflow.defn
class ReadsTheClock:
    @workflow.run
    async def run(self, order: OrderRef) -> str:
        return f"{order.order_id} at {datetime.datetime.now()}"


@workflow.defn
class ReadsAFile:
    @workflow.run
    async def run(self, order: OrderRef) -> str:
        return Path("/etc/hostname").read_text() + order.order_id  # noqa: ASYNC240 (the point)
