"""What Temporal itself costs here: CPU per workflow and per activity, measured on bare
workflows (no-op activities, no vendors) on the same dev server the provisioning benchmark
uses. It is the yardstick for `ProvisionOrder`: every activity it does not need saves about
this much server and worker CPU, and a local activity instead of an activity saves the
difference of the two.

Runs batches of workflows with 0, 2, 4 and 6 activities each, and the same with local
activities (in this process, sandboxed like the real worker), alternating, and prints the dev
server's and this process's CPU milliseconds per workflow and the marginal cost of one activity
and one local activity (least-squares slopes).

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
from bench.noop_workflow import NoopActivities, NoopLocalActivities, noop
from starters.demo.local_services import start_dev_server

TASK_QUEUE = "temporal-cost"
ACTIVITY_COUNTS = (0, 2, 4, 6)
SHAPES: dict[str, type[NoopActivities] | type[NoopLocalActivities]] = {
    "activity": NoopActivities,
    "local activity": NoopLocalActivities,
}
IN_FLIGHT = 50


@dataclass(frozen=True)
class Cost:
    shape: str
    activities: int
    server_ms: float
    worker_ms: float


async def main(args: argparse.Namespace) -> None:
    async with await start_dev_server() as env:
        server = _dev_server()
        async with Worker(
            env.client,
            task_queue=TASK_QUEUE,
            workflows=list(SHAPES.values()),
            activities=[noop],
        ):
            await _batch(env.client, server, "activity", 0, IN_FLIGHT)  # warm up
            costs = [
                await _batch(env.client, server, shape, activities, args.workflows)
                for _ in range(args.rounds)
                for activities in ACTIVITY_COUNTS
                for shape in SHAPES
            ]
    print(f"conditions: {machine_conditions()}, dev server")
    for shape in SHAPES:
        _report(shape, [cost for cost in costs if cost.shape == shape])


async def _batch(
    client: Client, server: psutil.Process, shape: str, activities: int, count: int
) -> Cost:
    worker = psutil.Process()
    server_before, worker_before = _cpu(server), _cpu(worker)
    in_flight = asyncio.Semaphore(IN_FLIGHT)

    async def one() -> None:
        async with in_flight:
            await client.execute_workflow(
                SHAPES[shape].run, activities, id=f"cost-{uuid.uuid4()}", task_queue=TASK_QUEUE
            )

    await asyncio.gather(*(one() for _ in range(count)))
    server_ms = (_cpu(server) - server_before) * 1000 / count
    worker_ms = (_cpu(worker) - worker_before) * 1000 / count
    return Cost(shape, activities, server_ms, worker_ms)


def _report(shape: str, costs: list[Cost]) -> None:
    print(f"{shape}: CPU ms per workflow (dev server | this process: client + worker), median:")
    for activities in ACTIVITY_COUNTS:
        rounds = [cost for cost in costs if cost.activities == activities]
        server = statistics.median(cost.server_ms for cost in rounds)
        worker = statistics.median(cost.worker_ms for cost in rounds)
        print(f"  {activities} x {shape}: {server:6.1f} | {worker:6.1f}")
    counts = [float(cost.activities) for cost in costs]
    server_fit = statistics.linear_regression(counts, [cost.server_ms for cost in costs])
    worker_fit = statistics.linear_regression(counts, [cost.worker_ms for cost in costs])
    print(
        f"per workflow: dev server {server_fit.intercept:.1f} ms, "
        f"worker {worker_fit.intercept:.1f} ms"
    )
    print(f"per {shape}: dev server {server_fit.slope:.1f} ms, worker {worker_fit.slope:.1f} ms")


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
