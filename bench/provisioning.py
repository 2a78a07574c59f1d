"""Provisioning benchmark, end to end: Salesforce emulator approve -> Platform Event -> bridge
-> ProvisionOrder -> WHMCS -> Salesforce Activated, on the dev server with the emulators at zero
added latency; worker and bridge are `portalctl` child processes.

Prints, from one run: orders/s at saturation; p50/p95/p99 latency from approval to the Order's
`LastModifiedDate` as the Activated write-back left it, at a fixed offered load; CPU seconds
per 100 orders of every process; worker log lines per order; API calls per order counted by
the emulators; the worker's resident memory idle and under load; and the same vendor calls made
directly from one asyncio loop without Temporal (the no-durability limit).

The bridge subscribes through `--transport` (`pubsub`, the default, or `cometd`). With
`--baseline REF`, the worker and the bridge of every other run come from a `git worktree` of REF
instead of this checkout (the same harness, emulators and driver): `--pairs` alternating
before/after pairs, then each figure's median after/before ratio. `--after REF` takes the after
side from a worktree too (one change measured on its own), `--after-settings` gives its worker
and bridge settings of their own (e.g. a vendor rate limit). `--compare-transports` does the
same with the bridge on CometD (before) and on the Pub/Sub API (after).

    .venv/bin/python -m bench.provisioning [--orders 1000] [--rate 20] [--seconds 30]
    .venv/bin/python -m bench.provisioning --baseline e6b3be1 --pairs 3 --orders 600 --rate 5
    .venv/bin/python -m bench.provisioning --baseline 49c04e5~1 --after 49c04e5 --transport cometd
    .venv/bin/python -m bench.provisioning --compare-transports --pairs 3 --orders 300 --rate 10
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

from activities.salesforce import SalesforceActivities
from activities.whmcs import WhmcsActivities
from bench.conditions import machine_conditions
from bench.stack import PROJECT_ROOT, Stack, running_stack
from contracts.provisioning import (
    AcceptOrderRequest,
    ActivationSuccess,
    MapAndCreateRequest,
    OrderRef,
)
from integrations.config import EventTransport, LoggingSettings
from integrations.logging import configure_logging
from starters.demo.bulk_orders import BulkOrder
from workers.dependencies import Integrations, WorkerSettings, open_integrations

POLL_SECONDS = 0.25
WARM_UP_ORDERS = 20
DIRECT_IN_FLIGHT = 64
SALESFORCE_THREADS = 16
CLOSED = "WorkflowType = 'ProvisionOrder' AND ExecutionStatus = 'Completed'"
SALESFORCE_TIMESTAMP = "%Y-%m-%dT%H:%M:%S.%f%z"
MEASURED_ROLES = ("temporal dev server", "portalctl worker", "portalctl bridge", "redis")
"""All processes but the emulators and the benchmark driver."""
UNMEASURED_ROLES = ("portalctl emulators", "benchmark driver")
"""Shown beside the total, not in it: at saturation they share the same cores."""


@dataclass(frozen=True)
class Batch:
    seconds: float
    orders: int
    calls: dict[str, Counter[str]]
    cpu_seconds: dict[str, float]
    peak_rss: int
    worker_log_lines: int


@dataclass(frozen=True)
class Figures:
    saturation: Batch
    latency_ms: list[float]
    """p50, p95, p99 at the offered load: approval -> Activated in Salesforce."""
    idle_rss: int

    @property
    def orders_per_second(self) -> float:
        return self.saturation.orders / self.saturation.seconds

    def cpu_per_100(self, role: str) -> float:
        return self.saturation.cpu_seconds.get(role, 0.0) * 100 / self.saturation.orders

    @property
    def cpu_per_100_total(self) -> float:
        return sum(self.cpu_per_100(role) for role in MEASURED_ROLES)

    @property
    def log_lines_per_order(self) -> float:
        return self.saturation.worker_log_lines / self.saturation.orders

    def headline(self) -> dict[str, float]:
        return {
            "saturation, orders/s": self.orders_per_second,
            "latency p50, ms": self.latency_ms[0],
            "latency p95, ms": self.latency_ms[1],
            "latency p99, ms": self.latency_ms[2],
            "CPU s / 100 orders, all but emulators": self.cpu_per_100_total,
            **{f"  {role}": self.cpu_per_100(role) for role in MEASURED_ROLES[:3]},
            **{f"{role} (not in the total)": self.cpu_per_100(role) for role in UNMEASURED_ROLES},
            "worker log lines / order": self.log_lines_per_order,
            "worker RSS idle, MiB": self.idle_rss / 2**20,
            "worker RSS under load, MiB": self.saturation.peak_rss / 2**20,
        }


async def main(args: argparse.Namespace) -> None:
    configure_logging(LoggingSettings(level="WARNING"))
    if args.baseline or args.compare_transports:
        await _compare(args)
        return
    with tempfile.TemporaryDirectory() as work:
        async with running_stack(
            Path(work), extra_environment=_worker_and_bridge_settings(args)
        ) as stack:
            figures = await _measure(stack, args)
            direct_seconds, direct_calls = await _direct(stack, args.orders)
    print(f"conditions: {machine_conditions()}, dev server,")
    print("  emulators at zero added latency, worker and bridge as child processes")
    print(f"offered load for latency: {args.rate} orders/s for {args.seconds} s")
    for name, value in figures.headline().items():
        print(f"{name:<40} {value:9.2f}")
    direct_rate = args.orders / direct_seconds
    print(f"direct, no durability: {direct_rate:.1f} orders/s, ", end="")
    print(f"{direct_rate / figures.orders_per_second:.2f}x the Temporal path")
    print("API calls per provisioned order (Temporal path | direct):")
    saturated = figures.saturation
    for vendor, counts in saturated.calls.items():
        direct = direct_calls[vendor]
        for operation in sorted(set(counts) | set(direct)):
            print(
                f"  {vendor:>10} {operation:<16} {counts[operation] / saturated.orders:5.2f} | "
                f"{direct[operation] / args.orders:5.2f}"
            )


async def _compare(args: argparse.Namespace) -> None:
    """Alternating before / after pairs, and the median ratios: REF / this checkout, or the
    bridge on CometD / on the Pub/Sub API."""
    pairs: list[tuple[Figures, Figures]] = []
    with _before_and_after(args) as (before_run, after_run, labels):
        for _ in range(args.pairs):
            before = await _measure_tree(*before_run)
            after = await _measure_tree(*after_run)
            pairs.append((before, after))
            print(f"pair {len(pairs)} done: {machine_conditions()}", flush=True)
    print(f"{labels}; {args.orders} orders at saturation,")
    print(f"latency at {args.rate} orders/s for {args.seconds} s; {machine_conditions()}")
    names = list(pairs[0][0].headline())
    print(f"{'figure':<40} " + " ".join(f"{'pair ' + str(i + 1):>17}" for i in range(len(pairs))))
    for name in names:
        cells = [f"{b.headline()[name]:7.2f} -> {a.headline()[name]:7.2f}" for b, a in pairs]
        ratios = [a.headline()[name] / b.headline()[name] for b, a in pairs if b.headline()[name]]
        median = f"{statistics.median(ratios):6.2f}x" if ratios else ""
        print(f"{name:<40} " + " ".join(f"{cell:>17}" for cell in cells) + f"  {median}")


_Run = tuple[argparse.Namespace, Path]


@contextmanager
def _before_and_after(args: argparse.Namespace) -> Iterator[tuple[_Run, _Run, str]]:
    if args.compare_transports:
        cometd = argparse.Namespace(**{**vars(args), "transport": EventTransport.COMETD.value})
        pubsub = argparse.Namespace(**{**vars(args), "transport": EventTransport.PUBSUB.value})
        labels = "before = the bridge on CometD, after = on the Pub/Sub API"
        yield (cometd, PROJECT_ROOT), (pubsub, PROJECT_ROOT), labels
        return
    after_args = argparse.Namespace(**{**vars(args), "settings": args.after_settings})
    with _worktree(args.baseline) as baseline, _tree(args.after) as after:
        labels = f"before = {args.baseline}, after = {args.after or 'this checkout'}"
        if args.after_settings:
            labels += " with " + " ".join(args.after_settings)
        yield (args, baseline), (after_args, after), labels


def _worker_and_bridge_settings(args: argparse.Namespace) -> dict[str, str]:
    settings = dict(setting.split("=", 1) for setting in getattr(args, "settings", []))
    return {"SF_EVENTS_TRANSPORT": args.transport, **settings}


async def _measure_tree(args: argparse.Namespace, tree: Path) -> Figures:
    settings = _worker_and_bridge_settings(args)
    with tempfile.TemporaryDirectory() as work:
        async with running_stack(Path(work), source_tree=tree, extra_environment=settings) as run:
            return await _measure(run, args)


async def _measure(stack: Stack, args: argparse.Namespace) -> Figures:
    idle_rss = stack.worker.resident_bytes()
    await _saturate(stack, WARM_UP_ORDERS)
    saturated = await _saturate(stack, args.orders, args.profile)
    latencies = sorted(await _offer(stack, args.rate, args.seconds))
    quantiles = statistics.quantiles(latencies, n=100)
    return Figures(saturated, [quantiles[49], quantiles[94], quantiles[98]], idle_rss)


@contextmanager
def _tree(ref: str | None) -> Iterator[Path]:
    """This checkout, or a worktree of `ref`."""
    if ref is None:
        yield PROJECT_ROOT
        return
    with _worktree(ref) as tree:
        yield tree


@contextmanager
def _worktree(ref: str) -> Iterator[Path]:
    """A detached `git worktree` of `ref`, removed afterwards."""
    with tempfile.TemporaryDirectory() as parent:
        path = Path(parent) / ref
        git = ["git", "-C", str(PROJECT_ROOT), "worktree"]
        subprocess.run([*git, "add", "--detach", str(path), ref], check=True, capture_output=True)
        try:
            yield path
        finally:
            subprocess.run([*git, "remove", "--force", str(path)], check=True)


async def _saturate(stack: Stack, count: int, profile: Path | None = None) -> Batch:
    """Approve `count` orders as fast as the emulator takes them; until all are closed."""
    orders = await stack.orders.create_many(count)
    with (
        _counted_calls(stack) as calls,
        _cpu_seconds() as cpu,
        _profiled(stack, profile),
        _log_lines(stack.worker.log_path) as lines,
    ):
        started = time.time()
        with ThreadPoolExecutor(8) as approvals:
            for order in orders:
                approvals.submit(stack.emulators.salesforce.approve_order, order.order_id)
            closed_at, peak_rss = await _until_closed(stack, orders)
    seconds = max(closed.timestamp() for closed in closed_at.values()) - started
    return Batch(seconds, count, calls, cpu, peak_rss, lines[0] if lines else 0)


async def _offer(stack: Stack, rate: float, seconds: float) -> list[float]:
    """Approve at a fixed rate (open loop); each order's milliseconds from its approval to the
    Activated write-back, by the Order's LastModifiedDate in the Salesforce emulator."""
    orders = await stack.orders.create_many(int(rate * seconds))
    approved_at: dict[str, float] = {}
    loop = asyncio.get_running_loop()
    begin = loop.time()

    async def approve(order: BulkOrder, at: float) -> None:
        await asyncio.sleep(max(0.0, at - loop.time()))
        approved_at[order.order_id] = time.time()
        await asyncio.to_thread(stack.emulators.salesforce.approve_order, order.order_id)

    approvals = [approve(order, begin + index / rate) for index, order in enumerate(orders)]
    await asyncio.gather(asyncio.gather(*approvals), _until_closed(stack, orders))
    records = await asyncio.to_thread(stack.emulators.salesforce.list_records, "Order")
    activated_at = {
        record["Id"]: datetime.strptime(record["LastModifiedDate"], SALESFORCE_TIMESTAMP)
        for record in records
        if record["Id"] in approved_at
    }
    return [
        (activated_at[order_id].timestamp() - approved) * 1000
        for order_id, approved in approved_at.items()
    ]


async def _until_closed(stack: Stack, orders: list[BulkOrder]) -> tuple[dict[str, datetime], int]:
    """When each order's workflow closed, and the worker's peak RSS meanwhile."""
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
    return closed_at, peak_rss


@contextmanager
def _log_lines(path: Path) -> Iterator[list[int]]:
    """Lines the process appended to its log inside the block."""
    offset = path.stat().st_size
    counted: list[int] = []
    yield counted
    with path.open("rb") as log:
        log.seek(offset)
        counted.append(log.read().count(b"\n"))


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
        integrations.whmcs,
        integrations.whmcs_orders,
        integrations.whmcs_settings,
        integrations.id_mappings,
    )
    loop = asyncio.get_running_loop()

    async def provision(order_id: str) -> None:
        ref = OrderRef(order_id=order_id)
        order = await loop.run_in_executor(threads, salesforce.load_order, ref)
        if order.has_last_error:
            await loop.run_in_executor(threads, salesforce.mark_order_activating, ref)
        created = await whmcs.map_and_create_order(
            MapAndCreateRequest(sf_order_id=order_id, order=order)
        )
        await whmcs.accept_order(AcceptOrderRequest(order_id=created.order_id))
        success = ActivationSuccess(
            order_id=order_id,
            whmcs_order_id=created.order_id,
            service_ids_by_item=created.service_ids_by_item,
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
    parser.add_argument("--baseline", help="git ref whose worker and bridge to compare with")
    parser.add_argument("--pairs", type=int, default=3, help="before/after pairs (--baseline)")
    parser.add_argument("--after", help="git ref of the after side (default: this checkout)")
    parser.add_argument(
        "--after-settings",
        nargs="*",
        default=[],
        metavar="NAME=VALUE",
        help="settings of the after side's worker and bridge (e.g. a rate limit)",
    )
    parser.add_argument(
        "--transport",
        choices=[transport.value for transport in EventTransport],
        default=EventTransport.PUBSUB.value,
        help="the bridge's SF_EVENTS_TRANSPORT",
    )
    parser.add_argument(
        "--compare-transports",
        action="store_true",
        help="before/after pairs of the bridge on CometD and on the Pub/Sub API",
    )
    asyncio.run(main(parser.parse_args()))
