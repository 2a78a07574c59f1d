"""Provisioning benchmark, end to end: Salesforce emulator approve -> Platform Event (CometD)
-> bridge -> ProvisionOrder -> WHMCS -> Salesforce Activated, on the dev server with the
emulators at zero added latency; worker and bridge are `portalctl` child processes.

Prints, from one run: orders/s at saturation; p50/p95/p99 latency (approve -> workflow
closed) at a fixed offered load; the same vendor calls made directly from one asyncio loop
without Temporal (the no-durability limit) and the ratio; API calls per order counted by the
emulators; the worker's resident memory idle and under load.

    .venv/bin/python -m bench.provisioning [--orders 1000] [--rate 20] [--seconds 30]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import psutil

from activities.mapping import MappingActivities
from activities.salesforce import SalesforceActivities
from activities.whmcs import WhmcsActivities
from bench.conditions import machine_conditions
from bench.stack import Stack, running_stack
from contracts.provisioning import (
    AcceptOrderRequest,
    ActivationSuccess,
    CreateOrderRequest,
    OrderRef,
    services_by_item,
)
from integrations.config import LoggingSettings
from integrations.logging import configure_logging
from starters.demo.bulk_orders import BulkOrder
from workers.dependencies import Integrations, WorkerSettings, open_integrations

POLL_SECONDS = 0.25
WARM_UP_ORDERS = 20
DIRECT_IN_FLIGHT = 64
SALESFORCE_THREADS = 16
CLOSED = "WorkflowType = 'ProvisionOrder' AND ExecutionStatus = 'Completed'"


@dataclass(frozen=True)
class Batch:
    seconds: float
    orders: int
    calls: dict[str, Counter[str]]
    cpu_seconds: dict[str, float]
    closed_at: dict[str, datetime]
    peak_rss: int


async def main(args: argparse.Namespace) -> None:
    configure_logging(LoggingSettings(level="WARNING"))
    with tempfile.TemporaryDirectory() as work:
        async with running_stack(Path(work)) as stack:
            idle_rss = stack.worker.resident_bytes()
            await _saturate(stack, WARM_UP_ORDERS)
            saturated = await _saturate(stack, args.orders, args.profile)
            approved_at, steady = await _offer(stack, args.rate, args.seconds)
            direct_seconds, direct_calls = await _direct(stack, args.orders)
    latencies = sorted(
        (steady.closed_at[order_id].timestamp() - approved) * 1000
        for order_id, approved in approved_at.items()
    )
    temporal_rate = saturated.orders / saturated.seconds
    direct_rate = args.orders / direct_seconds
    print(f"conditions: {machine_conditions()}, dev server,")
    print("  emulators at zero added latency, worker and bridge as child processes")
    print(f"saturation: {saturated.orders} orders in {saturated.seconds:.1f} s")
    print(f"  through Temporal:           {temporal_rate:7.1f} orders/s")
    print(f"  direct, no durability:      {direct_rate:7.1f} orders/s")
    print(f"  ratio direct / Temporal:    {direct_rate / temporal_rate:7.2f}x")
    quantiles = statistics.quantiles(latencies, n=100)
    print(
        f"latency at {args.rate} orders/s offered for {args.seconds} s ({len(latencies)} orders): "
        f"p50 {quantiles[49]:.0f} ms, p95 {quantiles[94]:.0f} ms, p99 {quantiles[98]:.0f} ms"
    )
    print("API calls per provisioned order (Temporal path | direct):")
    for vendor, counts in saturated.calls.items():
        direct = direct_calls[vendor]
        for operation in sorted(set(counts) | set(direct)):
            print(
                f"  {vendor:>10} {operation:<16} {counts[operation] / saturated.orders:5.2f} | "
                f"{direct[operation] / args.orders:5.2f}"
            )
    print("CPU seconds per 100 orders at saturation, by process:")
    for process, seconds in sorted(saturated.cpu_seconds.items(), key=lambda item: -item[1]):
        print(f"  {process:<22} {seconds * 100 / saturated.orders:6.2f}")
    loaded_rss = saturated.peak_rss
    print(f"worker RSS: idle {idle_rss / 2**20:.0f} MiB, under load {loaded_rss / 2**20:.0f} MiB")


async def _saturate(stack: Stack, count: int, profile: Path | None = None) -> Batch:
    """Approve `count` orders as fast as the emulator takes them; until all are closed."""
    orders = await stack.orders.create_many(count)
    with _counted_calls(stack) as calls, _cpu_seconds() as cpu, _profiled(stack, profile):
        started = time.time()
        with ThreadPoolExecutor(8) as approvals:
            for order in orders:
                approvals.submit(stack.emulators.salesforce.approve_order, order.order_id)
            batch = await _until_closed(stack, orders)
    seconds = max(closed.timestamp() for closed in batch.closed_at.values()) - started
    return Batch(seconds, count, calls, cpu, batch.closed_at, batch.peak_rss)


async def _offer(stack: Stack, rate: float, seconds: float) -> tuple[dict[str, float], Batch]:
    """Approve at a fixed rate (open loop); when each was approved, and when each closed."""
    orders = await stack.orders.create_many(int(rate * seconds))
    approved_at: dict[str, float] = {}
    loop = asyncio.get_running_loop()
    begin = loop.time()

    async def approve(order: BulkOrder, at: float) -> None:
        await asyncio.sleep(max(0.0, at - loop.time()))
        approved_at[order.order_id] = time.time()
        await asyncio.to_thread(stack.emulators.salesforce.approve_order, order.order_id)

    approvals = [approve(order, begin + index / rate) for index, order in enumerate(orders)]
    _, batch = await asyncio.gather(asyncio.gather(*approvals), _until_closed(stack, orders))
    return approved_at, batch


async def _until_closed(stack: Stack, orders: list[BulkOrder]) -> Batch:
    client = stack.env.client
    already = await client.count_workflows(CLOSED)
    peak_rss = 0
    while (await client.count_workflows(CLOSED)).count < already.count + len(orders):
        peak_rss = max(peak_rss, stack.worker.resident_bytes())
        await asyncio.sleep(POLL_SECONDS)
    wanted = {f"provision-{order.order_id}": order.order_id for order in orders}
    closed_at = {
        wanted[execution.id]: execution.close_time
        async for execution in client.list_workflows(CLOSED)
        if execution.id in wanted and execution.close_time is not None
    }
    return Batch(0, len(orders), {}, {}, closed_at, peak_rss)


@contextmanager
def _counted_calls(stack: Stack) -> Iterator[dict[str, Counter[str]]]:
    """Vendor API calls made inside the block, per vendor and operation."""
    controls = {"salesforce": stack.emulators.salesforce, "whmcs": stack.emulators.whmcs}
    before = {name: Counter(control.call_counts()) for name, control in controls.items()}
    calls: dict[str, Counter[str]] = {}
    yield calls
    for name, control in controls.items():
        calls[name] = Counter(control.call_counts()) - before[name]


@contextmanager
def _cpu_seconds() -> Iterator[dict[str, float]]:
    """CPU time (user + system) spent inside the block by this process and its children."""
    processes = [psutil.Process(), *psutil.Process().children(recursive=True)]

    def sample() -> dict[str, float]:
        seconds: dict[str, float] = {}
        for process in processes:
            with suppress(psutil.Error):
                times = process.cpu_times()
                role = _role(process)
                seconds[role] = seconds.get(role, 0.0) + times.user + times.system
        return seconds

    before = sample()
    spent: dict[str, float] = {}
    yield spent
    spent.update({role: seconds - before.get(role, 0.0) for role, seconds in sample().items()})


def _role(process: psutil.Process) -> str:
    command = " ".join(process.cmdline())
    for role in ("worker", "bridge", "emulators"):
        if f"portalctl {role}" in command:
            return f"portalctl {role}"
    if "temporal" in process.name():
        return "temporal dev server"
    if "redis" in process.name():
        return "redis"
    return "benchmark driver" if process.pid == os.getpid() else process.name()


@contextmanager
def _profiled(stack: Stack, directory: Path | None) -> Iterator[None]:
    """py-spy samples the worker and the bridge while the block runs (speedscope JSON)."""
    if directory is None:
        yield
        return
    directory.mkdir(parents=True, exist_ok=True)
    targets = [process for process in (stack.worker, stack.bridge) if process is not None]
    spies = [
        subprocess.Popen(
            [
                str(Path(sys.executable).parent / "py-spy"),
                *("record", "--pid", str(target.pid), "--format", "speedscope"),
                *("--output", str(directory / f"{target.command}.speedscope.json")),
                "--nonblocking",
            ],
            stdout=subprocess.DEVNULL,
        )
        for target in targets
    ]
    try:
        yield
    finally:
        for spy in spies:
            spy.send_signal(signal.SIGINT)
            spy.wait(30)


async def _direct(stack: Stack, count: int) -> tuple[float, dict[str, Counter[str]]]:
    """The same calls as the workflow's steps, straight from one asyncio loop."""
    orders = await stack.orders.create_many(count, activating=True)
    saved = dict(os.environ)
    os.environ.update(stack.environment)
    try:
        settings = WorkerSettings.from_environment()
    finally:
        os.environ.clear()
        os.environ.update(saved)
    async with open_integrations(settings) as integrations:
        with ThreadPoolExecutor(SALESFORCE_THREADS) as threads, _counted_calls(stack) as calls:
            provision = _direct_provisioning(integrations, threads)
            in_flight = asyncio.Semaphore(DIRECT_IN_FLIGHT)

            async def one(order: BulkOrder) -> None:
                async with in_flight:
                    await provision(order.order_id)

            started = time.monotonic()
            await asyncio.gather(*(one(order) for order in orders))
            seconds = time.monotonic() - started
    return seconds, calls


def _direct_provisioning(
    integrations: Integrations, threads: ThreadPoolExecutor
) -> Callable[[str], Awaitable[None]]:
    salesforce = SalesforceActivities(integrations.salesforce)
    whmcs = WhmcsActivities(
        integrations.whmcs, integrations.whmcs_orders, integrations.whmcs_settings
    )
    mapping = MappingActivities(integrations.id_mappings)
    loop = asyncio.get_running_loop()

    async def provision(order_id: str) -> None:
        ref = OrderRef(order_id=order_id)
        order = await loop.run_in_executor(threads, salesforce.load_order, ref)
        if order.has_last_error:
            await loop.run_in_executor(threads, salesforce.mark_order_activating, ref)
        mapped = await mapping.map_order(order)
        created = await whmcs.create_payable_order(
            CreateOrderRequest(
                sf_order_id=order_id, client_id=mapped.whmcs_client_id, lines=list(mapped.lines)
            )
        )
        await whmcs.accept_order(AcceptOrderRequest(order_id=created.order_id))
        success = ActivationSuccess(
            order_id=order_id,
            whmcs_order_id=created.order_id,
            service_ids_by_item=services_by_item(mapped.lines, created.service_ids),
        )
        await loop.run_in_executor(threads, salesforce.mark_order_activated, success)

    return provision


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--orders", type=int, default=1000, help="orders at saturation")
    parser.add_argument("--rate", type=float, default=20.0, help="offered load, orders/s")
    parser.add_argument("--seconds", type=float, default=30.0, help="duration of that load")
    parser.add_argument(
        "--profile", type=Path, help="write py-spy profiles of the worker and bridge here"
    )
    asyncio.run(main(parser.parse_args()))
