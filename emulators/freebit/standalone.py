"""Run the Freebit emulator as its own process (the CLI and the demo call this)."""

from __future__ import annotations

import asyncio

import structlog

from emulators.freebit.app import API_PREFIX, FreebitEmulator
from emulators.server import EmulatorServer

log = structlog.get_logger(__name__)


def run_freebit_emulator(
    host: str = "127.0.0.1", port: int = 8082, *, emulator: FreebitEmulator | None = None
) -> None:
    """Serve in the foreground until interrupted; port 0 picks a free one."""
    server = EmulatorServer((emulator or FreebitEmulator()).asgi_app(), host=host, port=port)
    log.info("Freebit emulator listening", base_url=f"{server.url}{API_PREFIX}")
    asyncio.run(server.serve())
