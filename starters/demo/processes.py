"""Stopping the server processes that the local stack, the tests and the benchmarks start."""

from __future__ import annotations

import signal
import subprocess
from typing import Any


def stop_process(
    process: subprocess.Popen[Any], timeout: float, stop_signal: int = signal.SIGTERM
) -> None:
    """Ask `process` to end with `stop_signal`; SIGKILL it if it has not ended in `timeout` s."""
    process.send_signal(stop_signal)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
