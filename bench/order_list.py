"""`portalctl order list` on many orders: N `ProvisionOrder` executions on the dev server, each
with the search attributes and memo a real one has (a share of them Failed with 503, 409 or
MAPPING), started on a task queue no worker polls: the list reads visibility only.

Prints the seconds of the visibility list (all orders, Failed ones, 503 within 1 h), of the
whole `portalctl order list` command (process start included), and, for scale, of one
describe per order (what the list never does) on a sample.

    .venv/bin/python -m bench.order_list [--orders 10000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from temporalio.client import Client
from temporalio.common import SearchAttributePair, TypedSearchAttributes

from bench.conditions import machine_conditions
from contracts.provisioning import (
    ORDER_MEMO,
    ActivationStatus,
    OrderMemo,
    ProvisionOrderInput,
    provision_workflow_id,
)
from starters.demo.local_services import start_dev_server
from starters.demo.portal_processes import PORTALCTL
from starters.order_listing import OrderFilter, list_orders
from workflows import search_attributes as attributes

NOBODY_POLLS = "bench-order-list"
PARALLEL_STARTS = 32
DESCRIBE_SAMPLE = 500
FAILURES = [("503", "whmcs_create"), ("409", "payment_method"), ("MAPPING", "mapping")]


async def main(args: argparse.Namespace) -> None:
    env = await start_dev_server()
    try:
        started = time.perf_counter()
        await _start_orders(env.client, args.orders)
        await _until_visible(env.client, args.orders)
        print(f"{args.orders} orders started in {time.perf_counter() - started:.1f} s")
        print(machine_conditions())
        now = datetime.now(UTC)
        for label, order_filter in [
            ("all orders", OrderFilter()),
            ("--failed", OrderFilter(failed=True)),
            ("--failed --code 503 --since 1h", OrderFilter(code="503", since=timedelta(hours=1))),
        ]:
            await _time_list(env.client, label, order_filter, now)
        address = env.client.service_client.config.target_host
        _time_command(address, ["order", "list", "--failed", "--limit", "0", "--json"])
        _time_command(address, ["order", "list", "--failed"])
        await _time_describes(env.client, min(DESCRIBE_SAMPLE, args.orders), args.orders)
    finally:
        await env.shutdown()


async def _start_orders(client: Client, count: int) -> None:
    limit = asyncio.Semaphore(PARALLEL_STARTS)

    async def start(number: int) -> None:
        async with limit:
            await _start_order(client, number)

    await asyncio.gather(*(start(number) for number in range(count)))


async def _until_visible(client: Client, count: int) -> None:
    """Visibility follows the starts a little later; polling is all a client can do."""
    while True:
        if (await client.count_workflows('WorkflowType = "ProvisionOrder"')).count >= count:
            return
        await asyncio.sleep(0.5)


async def _start_order(client: Client, number: int) -> None:
    order_id = f"8015g{number:010d}AAA"
    failure = FAILURES[number % len(FAILURES)] if number % 10 < 3 else None
    pairs: list[SearchAttributePair[Any]] = [
        SearchAttributePair(attributes.ORDER_ID, order_id),
        SearchAttributePair(attributes.SALESFORCE_ACCOUNT_ID, f"0015g{number % 997:010d}AAA"),
    ]
    if failure is None:
        pairs.append(SearchAttributePair(attributes.ACTIVATION_STATUS, ActivationStatus.ACTIVATING))
    else:
        pairs += [
            SearchAttributePair(attributes.ACTIVATION_STATUS, ActivationStatus.FAILED),
            SearchAttributePair(attributes.ERROR_CODE, failure[0]),
            SearchAttributePair(attributes.FAILED_STEP, failure[1]),
            SearchAttributePair(attributes.FAILED_AT, datetime.now(UTC)),
        ]
    memo = OrderMemo(
        summary=f"Order {order_id} for Account ACME, 2 item(s)",
        failure_message=f"{failure[0]} at {failure[1]}" if failure else None,
    )
    await client.start_workflow(
        "ProvisionOrder",
        ProvisionOrderInput(order_id=order_id),
        id=provision_workflow_id(order_id),
        task_queue=NOBODY_POLLS,
        search_attributes=TypedSearchAttributes(pairs),
        memo={ORDER_MEMO: memo},
    )


async def _time_list(client: Client, label: str, order_filter: OrderFilter, now: datetime) -> None:
    started = time.perf_counter()
    rows = await list_orders(client, order_filter, limit=None, now=now)
    print(f"list {label}: {len(rows)} orders in {time.perf_counter() - started:.2f} s")


def _time_command(address: str, args: list[str]) -> None:
    environment = {**os.environ, "TEMPORAL_ADDRESS": address, "COLUMNS": "200"}
    started = time.perf_counter()
    completed = subprocess.run([str(PORTALCTL), *args], env=environment, capture_output=True)
    if completed.returncode != 0:
        raise SystemExit(f"portalctl {' '.join(args)} failed: {completed.stderr.decode()}")
    elapsed = time.perf_counter() - started
    print(f"portalctl {' '.join(args)}: {elapsed:.2f} s, {len(completed.stdout)} bytes out")


async def _time_describes(client: Client, sample: int, total: int) -> None:
    started = time.perf_counter()
    for number in range(sample):
        order_id = f"8015g{number:010d}AAA"
        await client.get_workflow_handle(provision_workflow_id(order_id)).describe()
    elapsed = time.perf_counter() - started
    print(
        f"for scale, one describe per order: {sample} in {elapsed:.2f} s "
        f"(~{elapsed * total / sample:.0f} s for {total})"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--orders", type=int, default=10_000)
    asyncio.run(main(parser.parse_args()))
