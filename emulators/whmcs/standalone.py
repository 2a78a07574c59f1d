"""Run the WHMCS emulator as its own process (the CLI and the demo call this)."""

from __future__ import annotations

import asyncio

import structlog

from emulators.server import EmulatorServer
from emulators.whmcs.app import API_PATH, WhmcsEmulator

log = structlog.get_logger(__name__)


def run_whmcs_emulator(
    host: str = "127.0.0.1", port: int = 8081, *, emulator: WhmcsEmulator | None = None
) -> None:
    """Serve in the foreground until interrupted; port 0 picks a free one."""
    server = EmulatorServer((emulator or WhmcsEmulator()).asgi_app(), host=host, port=port)
    log.info("WHMCS emulator listening", api_url=f"{server.url}{API_PATH}")
    asyncio.run(server.serve())
