"""Backfill benchmark: N retained Platform Events (one approved Order each, no bridge
running) replayed from -2 by `portalctl order backfill` into ProvisionOrder workflows.

Prints the seconds and events/s until every event was handed to Temporal, the seconds until
every order was provisioned, and the duplicates (must be 0: one workflow and one WHMCS order
per Order); then backfills again and prints what that second pass started (must be 0).

    .venv/bin/python -m bench.backfill [--events 10000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import tempfile
import time
from collections import Counter
from datetime import datetime
from pathlib import Path

from bench.conditions import machine_conditions
from bench.stack import TASK_QUEUE, Stack, running_stack
from integrations.config import LoggingSettings
from integrations.logging import configure_logging
from starters.demo.portal_processes import PORTALCTL

ENQUEUED = "Platform Event enqueued for provisioning"
POLL_SECONDS = 0.5
PARALLEL_APPROVALS = 8


async def main(args: argparse.Namespace) -> None:
    configure_logging(LoggingSettings(level="WARNING"))
    with tempfile.TemporaryDirectory() as work:
        async with running_stack(Path(work), bridge=False) as stack:
            orders = await stack.orders.create_many(args.events)
            limit = asyncio.Semaphore(PARALLEL_APPROVALS)

            async def approve(order_id: str) -> None:
                async with limit:
                    await asyncio.to_thread(stack.emulators.salesforce.approve_order, order_id)

            await asyncio.gather(*(approve(order.order_id) for order in orders))
            started = time.time()
            first = await asyncio.to_thread(_backfill, stack, Path(work) / "backfill-1.log")
            handed_over = _last_enqueued(Path(work) / "backfill-1.log") - started
            provisioned = await _until_closed(stack, args.events) - started
            workflows = (
                await stack.env.client.count_workflows(f"TaskQueue = '{TASK_QUEUE}'")
            ).count
            per_order = Counter(
                order.notes.removeprefix("sfOrderId=") for order in stack.emulators.whmcs.orders()
            )
            second = await asyncio.to_thread(_backfill, stack, Path(work) / "backfill-2.log")
    duplicates = (workflows - args.events) + sum(n - 1 for n in per_order.values() if n > 1)
    print(f"conditions: {machine_conditions()}, dev server,")
    print("  emulators at zero added latency, worker as a child process, no bridge running")
    print(f"backfill of {args.events} retained events (-2): {dict(first)}")
    print(f"  handed to Temporal in {handed_over:.1f} s: {args.events / handed_over:.0f} events/s")
    print(f"  all orders provisioned after {provisioned:.1f} s: {args.events / provisioned:.1f}/s")
    print(f"  workflows {workflows}, WHMCS orders {per_order.total()}, duplicates {duplicates}")
    print(f"second backfill: {dict(second)}")


def _backfill(stack: Stack, log_path: Path) -> Counter[str]:
    """Run `portalctl order backfill`; its summary (outcome -> events)."""
    with log_path.open("w") as log:
        summary = subprocess.run(
            [str(PORTALCTL), "order", "backfill"],
            env={**os.environ, "LOG_FORMAT": "json", **stack.environment},
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
            check=True,
        ).stdout
    counts: Counter[str] = Counter()
    for line in summary.splitlines():
        outcome, _, count = line.rpartition(":")
        if count.strip().isdigit():
            counts[outcome.strip()] = int(count)
    return counts


def _last_enqueued(log_path: Path) -> float:
    stamps = [
        datetime.fromisoformat(entry["timestamp"]).timestamp()
        for line in log_path.read_text().splitlines()
        if line.startswith("{") and (entry := json.loads(line)).get("event") == ENQUEUED
    ]
    return max(stamps)


async def _until_closed(stack: Stack, count: int) -> float:
    """When the last of `count` workflows closed."""
    closed = "WorkflowType = 'ProvisionOrder' AND ExecutionStatus = 'Completed'"
    client = stack.env.client
    while True:
        if (await client.count_workflows(closed)).count >= count:
            break
        await asyncio.sleep(POLL_SECONDS)
    closed_at = [
        execution.close_time.timestamp()
        async for execution in client.list_workflows(closed)
        if execution.close_time is not None
    ]
    return max(closed_at)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=10_000, help="retained events to replay")
    asyncio.run(main(parser.parse_args()))
