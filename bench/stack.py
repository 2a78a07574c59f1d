"""The system as separate processes for the benchmarks: the Temporal dev server, a throwaway
database and Redis, the vendor emulators (`portalctl emulators`), the worker and the bridge
(`portalctl worker|bridge`), each in its own process so none competes for another's GIL and
the worker's resident memory is its own."""

from __future__ import annotations

import compileall
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path

from temporalio.testing import WorkflowEnvironment

from emulators.salesforce import SalesforceEmulatorControl
from emulators.whmcs import API_PATH, WhmcsEmulatorControl
from integrations.config import DatabaseSettings
from integrations.database import open_pool
from integrations.id_mappings import IdMappings
from starters.demo.bulk_orders import OrderFactory
from starters.demo.local_services import free_port, fresh_database, start_dev_server
from starters.demo.portal_processes import PORTALCTL, PortalProcess, portal_processes
from starters.demo.redis_server import running_redis_server

ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
ORG_API_LIMIT = 10_000_000
"""The emulated org's API allowance (default 15,000, like a small org's daily limit): a
benchmark of thousands of orders would exhaust it and measure 429s instead."""
TASK_QUEUE = "bench"
PROJECT_ROOT = Path(__file__).resolve().parent.parent
PROJECT_PACKAGES = ("workflows", "activities", "workers", "starters", "integrations", "emulators")
EMULATORS_READY = "# emulators running"


@dataclass(frozen=True)
class Emulators:
    environment: dict[str, str]
    salesforce: SalesforceEmulatorControl
    whmcs: WhmcsEmulatorControl


@dataclass(frozen=True)
class Stack:
    env: WorkflowEnvironment
    emulators: Emulators
    orders: OrderFactory
    worker: PortalProcess
    bridge: PortalProcess | None
    environment: dict[str, str]
    """What the worker and bridge run with (TEMPORAL_*, DATABASE_URL, REDIS_URL, vendors)."""
    database_url: str


@contextmanager
def running_emulators(work_dir: Path) -> Iterator[Emulators]:
    """`portalctl emulators` in a child process; its printed settings reach it."""
    ports = [str(free_port()) for _ in range(4)]
    process = subprocess.Popen(
        [
            str(PORTALCTL),
            "emulators",
            *("--salesforce-port", ports[0], "--whmcs-port", ports[1]),
            *("--freebit-port", ports[2], "--salesforce-pubsub-port", ports[3]),
            *("--work-dir", str(work_dir)),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        environment: dict[str, str] = {}
        for line in process.stdout:
            if line.startswith(EMULATORS_READY):
                break
            name, _, value = line.removeprefix("export ").strip().partition("=")
            environment[name] = value
        else:
            raise RuntimeError("portalctl emulators ended before it was ready")
        salesforce = SalesforceEmulatorControl(
            environment["SF_LOGIN_URL"], ca_path=Path(environment["SF_CA_BUNDLE"])
        )
        whmcs = WhmcsEmulatorControl(environment["WHMCS_API_URL"].removesuffix(API_PATH))
        try:
            yield Emulators(environment, salesforce, whmcs)
        finally:
            salesforce.close()
            whmcs.close()
    finally:
        process.terminate()
        process.wait(15)


def compile_bytecode(tree: Path) -> None:
    """Give the source tree the bytecode an installed worker has: pip compiles at install, even
    under PYTHONDONTWRITEBYTECODE=1 (set on these machines). Without it the workflow sandbox
    compiles the workflow module from source for every new workflow run (~3 ms each)."""
    for package in PROJECT_PACKAGES:
        if (tree / package).is_dir():
            compileall.compile_dir(tree / package, quiet=1)


@asynccontextmanager
async def running_stack(
    work_dir: Path,
    *,
    bridge: bool = True,
    extra_environment: dict[str, str] | None = None,
    source_tree: Path = PROJECT_ROOT,
) -> AsyncIterator[Stack]:
    """`source_tree`: where the worker and the bridge import the project from (another
    checkout, such as a `git worktree` of an earlier commit, to measure before and after with
    the same harness); the emulators and the driver always run this checkout."""
    compile_bytecode(source_tree)
    async with AsyncExitStack() as stack:
        env = await start_dev_server()
        stack.push_async_callback(env.shutdown)
        database_url = await stack.enter_async_context(
            fresh_database(ADMIN_URL, f"portal_bench_{uuid.uuid4().hex[:8]}")
        )
        redis = stack.enter_context(running_redis_server(work_dir))
        emulators = stack.enter_context(running_emulators(work_dir / "vendors"))
        emulators.salesforce.set_connect_hold(5)
        emulators.salesforce.set_api_limit(ORG_API_LIMIT)
        environment = {
            **emulators.environment,
            "TEMPORAL_ADDRESS": env.client.service_client.config.target_host,
            "TEMPORAL_TASK_QUEUE": TASK_QUEUE,
            "DATABASE_URL": database_url,
            "REDIS_URL": redis.url,
            "SF_EVENTS_REPLAY": "ALL",
            "PYTHONPATH": str(source_tree),
            **(extra_environment or {}),
        }
        worker, bridge_process = stack.enter_context(
            portal_processes(environment, work_dir, bridge=bridge)
        )
        pool = await open_pool(DatabaseSettings(DATABASE_URL=database_url))
        stack.push_async_callback(pool.close)
        orders = OrderFactory(emulators.salesforce, emulators.whmcs, IdMappings(pool))
        yield Stack(env, emulators, orders, worker, bridge_process, environment, database_url)
