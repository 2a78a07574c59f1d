"""A TCP proxy a test can switch off and on, to make a real server unreachable for a while
(the listener is closed and open connections are cut) and reachable again on the same port."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

LOCALHOST = "127.0.0.1"
CHUNK_BYTES = 64 * 1024


class TcpProxy:
    def __init__(self, target: str) -> None:
        """`target`: the "host:port" connections are forwarded to."""
        host, _, port = target.rpartition(":")
        self._target_host, self._target_port = host, int(port)
        self._port = 0
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()

    @property
    def address(self) -> str:
        return f"{LOCALHOST}:{self._port}"

    async def start(self) -> None:
        """Listen, on a free port the first time and on the same port after `stop()`."""
        self._server = await asyncio.start_server(
            self._forward, LOCALHOST, self._port, reuse_address=True
        )
        self._port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Refuse new connections and cut the open ones."""
        server, self._server = self._server, None
        if server is not None:
            server.close()
        for connection in self._connections:
            connection.cancel()
        await asyncio.gather(*self._connections, return_exceptions=True)
        if server is not None:
            await server.wait_closed()

    async def _forward(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connection = asyncio.current_task()
        assert connection is not None
        self._connections.add(connection)
        try:
            target_reader, target_writer = await asyncio.open_connection(
                self._target_host, self._target_port
            )
            try:
                async with asyncio.TaskGroup() as pumps:
                    pumps.create_task(_pump(reader, target_writer))
                    pumps.create_task(_pump(target_reader, writer))
            finally:
                target_writer.transport.abort()
        except* OSError:
            pass  # either side went away: this connection simply ends
        finally:
            writer.transport.abort()
            self._connections.discard(connection)


async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while chunk := await reader.read(CHUNK_BYTES):
        writer.write(chunk)
        await writer.drain()
    if writer.can_write_eof():
        writer.write_eof()


@asynccontextmanager
async def running_tcp_proxy(target: str) -> AsyncIterator[TcpProxy]:
    proxy = TcpProxy(target)
    await proxy.start()
    try:
        yield proxy
    finally:
        await proxy.stop()
