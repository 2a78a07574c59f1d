"""`portalctl worker` and `portalctl bridge` as child processes that a chaos test or a benchmark
can kill (SIGKILL), restart and measure (resident memory of that process alone)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from pathlib import Path

from starters.demo.processes import stop_process

PORTALCTL = Path(sys.executable).parent / "portalctl"
READY_TIMEOUT_SECONDS = 60.0
STOP_TIMEOUT_SECONDS = 15.0
POLL_SECONDS = 0.05

WORKER_READY = "Worker started"
BRIDGE_READY = "Subscribing to Platform Events"
NO_OPS_ENDPOINTS = {"WORKER_HTTP_PORT": "0", "BRIDGE_HTTP_PORT": "0"}
"""The fixed default ports would clash between concurrent runs and with a real worker."""


class PortalProcess:
    """One `portalctl <command>` child; its output (JSON logs) is appended to `log_path`."""

    def __init__(
        self, command: str, environment: Mapping[str, str], log_path: Path, ready_line: str
    ) -> None:
        self.command = command
        self._environment = {**os.environ, **NO_OPS_ENDPOINTS, "LOG_FORMAT": "json", **environment}
        self.log_path = log_path
        self._ready_line = ready_line
        self._process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def pid(self) -> int:
        assert self._process is not None, f"portalctl {self.command} is not running"
        return self._process.pid

    def start(self) -> None:
        """Start and return once the process logged that it is ready."""
        offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                [str(PORTALCTL), self.command],
                env=self._environment,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self.starts += 1
        self._wait_until_ready(offset)

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs, in-flight work is simply lost."""
        process, self._process = self._process, None
        if process is not None:
            process.kill()
            process.wait()

    def stop(self) -> None:
        """Ctrl-C, then SIGKILL if it does not end in time."""
        process, self._process = self._process, None
        if process is not None:
            stop_process(process, STOP_TIMEOUT_SECONDS, signal.SIGINT)

    def resident_bytes(self) -> int:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise RuntimeError(f"no VmRSS for process {self.pid}")

    def _wait_until_ready(self, offset: int) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        while True:
            with self.log_path.open("rb") as log:
                log.seek(offset)
                if self._ready_line.encode() in log.read():
                    return
            assert self._process is not None
            if self._process.poll() is not None:
                raise RuntimeError(
                    f"portalctl {self.command} exited with {self._process.returncode}; "
                    f"see {self.log_path}"
                )
            if time.monotonic() > deadline:
                raise RuntimeError(f"portalctl {self.command} not ready; see {self.log_path}")
            time.sleep(POLL_SECONDS)


@contextmanager
def portal_processes(
    environment: Mapping[str, str], log_dir: Path, *, bridge: bool = True
) -> Iterator[tuple[PortalProcess, PortalProcess | None]]:
    """A started worker and (optionally) bridge, always stopped on the way out."""
    worker = PortalProcess("worker", environment, log_dir / "worker.log", WORKER_READY)
    events = {"SF_EVENTS_ENABLED": "true", **environment}
    bridge_process = (
        PortalProcess("bridge", events, log_dir / "bridge.log", BRIDGE_READY) if bridge else None
    )
    with ExitStack() as stack:
        stack.callback(worker.stop)
        worker.start()
        if bridge_process is not None:
            stack.callback(bridge_process.stop)
            bridge_process.start()
        yield worker, bridge_process
