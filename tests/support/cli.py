"""Running `portalctl` in tests: in a thread of the test process, or as a process of its own."""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
from collections.abc import Mapping

from typer.testing import CliRunner, Result

from starters.cli.app import app

PORTALCTL = [sys.executable, "-m", "starters.cli.app"]


async def invoke(args: list[str], environment: Mapping[str, str]) -> Result:
    """In a thread: the command runs its own event loop, as it does in a shell. It points
    logging at the runner's stream; the test's logging is restored afterwards."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        environment = {"COLUMNS": "250", **environment}
        return await asyncio.to_thread(CliRunner().invoke, app, args, env=dict(environment))
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)


async def start_process(
    args: list[str], environment: Mapping[str, str]
) -> asyncio.subprocess.Process:
    """`portalctl ARGS` as an operator's shell starts it; stdout unbuffered, as a pipe."""
    return await asyncio.create_subprocess_exec(
        *PORTALCTL,
        *args,
        env={**os.environ, "PYTHONUNBUFFERED": "1", **environment},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )


def run_process(
    args: list[str], environment: Mapping[str, str], *, timeout: float | None = None
) -> str:
    """`portalctl ARGS` as a process of its own, with its own settings; its output, once it
    has succeeded."""
    completed = subprocess.run(
        [*PORTALCTL, *args],
        env={**os.environ, **environment},
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout,
    )
    assert completed.returncode == 0, completed.stderr
    return completed.stdout
