"""What Temporal itself costs here: CPU per workflow and per activity, measured on bare
workflows (no-op activities, no vendors) on the same dev server the provisioning benchmark
uses. It is the yardstick for `ProvisionOrder`: every activity it does not need saves about
this much server and worker CPU.

Runs batches of workflows with 0, 2, 4 and 6 activities each (in this process, sandboxed like
the real worker), alternating, and prints the dev server's and this process's CPU
milliseconds per workflow and the marginal cost of one activity (least-squares slope).

    .venv/bin/python -m bench.temporal_cost [--workflows 300] [--rounds 2]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import uuid
from dataclasses import dataclass

import psutil
from temporalio.client import Client
from temporalio.worker import Worker

from bench.conditions import machine_conditions
from bench.noop_workflow import NoopActivities, noop
from starters.demo.local_services import start_dev_server

TASK_QUEUE = "temporal-cost"
ACTIVITY_COUNTS = (0, 2, 4, 6)
IN_FLIGHT = 50


@dataclass(frozen=True)
class Cost:
    activities: int
    server_ms: float
    worker_ms: float


async def main(args: argparse.Namespace) -> None:
    async with await start_dev_server() as env:
        server = _dev_server()
        async with Worker(
            env.client,
            task_queue=TASK_QUEUE,
            workflows=[NoopActivities],
            activities=[noop],
        ):
            await _batch(env.client, server, 0, IN_FLIGHT)  # warm up
            costs = [
                await _batch(env.client, server, activities, args.workflows)
                for _ in range(args.rounds)
                for activities in ACTIVITY_COUNTS
            ]
    _report(costs)


async def _batch(client: Client, server: psutil.Process, activities: int, count: int) -> Cost:
    worker = psutil.Process()
    server_before, worker_before = _cpu(server), _cpu(worker)
    in_flight = asyncio.Semaphore(IN_FLIGHT)

    async def one() -> None:
        async with in_flight:
            await client.execute_workflow(
                NoopActivities.run, activities, id=f"cost-{uuid.uuid4()}", task_queue=TASK_QUEUE
            )

    await asyncio.gather(*(one() for _ in range(count)))
    server_ms = (_cpu(server) - server_before) * 1000 / count
    worker_ms = (_cpu(worker) - worker_before) * 1000 / count
    return Cost(activities, server_ms, worker_ms)


def _report(costs: list[Cost]) -> None:
    print(f"conditions: {machine_conditions()}, dev server")
    print("CPU ms per workflow (dev server | this process: client + worker), median of rounds:")
    for activities in ACTIVITY_COUNTS:
        rounds = [cost for cost in costs if cost.activities == activities]
        server = statistics.median(cost.server_ms for cost in rounds)
        worker = statistics.median(cost.worker_ms for cost in rounds)
        print(f"  {activities} activities: {server:6.1f} | {worker:6.1f}")
    counts = [float(cost.activities) for cost in costs]
    server_fit = statistics.linear_regression(counts, [cost.server_ms for cost in costs])
    worker_fit = statistics.linear_regression(counts, [cost.worker_ms for cost in costs])
    print(
        f"per workflow: dev server {server_fit.intercept:.1f} ms, "
        f"worker {worker_fit.intercept:.1f} ms"
    )
    print(f"per activity: dev server {server_fit.slope:.1f} ms, worker {worker_fit.slope:.1f} ms")


def _dev_server() -> psutil.Process:
    for process in psutil.Process().children(recursive=True):
        if "start-dev" in process.cmdline():
            return process
    raise RuntimeError("the dev server is not a child of this process")


def _cpu(process: psutil.Process) -> float:
    times = process.cpu_times()
    return times.user + times.system


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workflows", type=int, default=300, help="workflows per batch")
    parser.add_argument("--rounds", type=int, default=2, help="batches per activity count")
    asyncio.run(main(parser.parse_args()))
