"""Run an emulator's ASGI app on a real socket, in a background thread or in the foreground."""

from __future__ import annotations

import asyncio
import socket
import threading
from typing import Any

import uvicorn

from emulators.tls import TlsFiles


class EmulatorServer:
    """One emulator listening on host:port (port 0 picks a free one), optionally with TLS."""

    def __init__(
        self, app: Any, *, host: str = "127.0.0.1", port: int = 0, tls: TlsFiles | None = None
    ) -> None:
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind((host, port))
        self.host = host
        self.port: int = self._socket.getsockname()[1]
        self.scheme = "https" if tls else "http"
        config = uvicorn.Config(
            app,
            log_level="warning",
            access_log=False,
            lifespan="auto",
            timeout_graceful_shutdown=1,
            ssl_certfile=str(tls.cert_chain_path) if tls else None,
            ssl_keyfile=str(tls.key_path) if tls else None,
        )
        self._server = uvicorn.Server(config)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host = "localhost" if self.scheme == "https" else self.host
        return f"{self.scheme}://{host}:{self.port}"

    def __enter__(self) -> EmulatorServer:
        """Serve in a background thread for the duration of the `with` block."""
        self.start_in_thread()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def start_in_thread(self) -> None:
        self._thread = threading.Thread(target=self._run, name=f"emulator-{self.port}", daemon=True)
        self._thread.start()
        while not self._server.started:
            if not self._thread.is_alive():
                raise RuntimeError(f"emulator on port {self.port} failed to start")
            threading.Event().wait(0.01)

    def stop(self) -> None:
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._socket.close()

    async def serve(self) -> None:
        await self._server.serve(sockets=[self._socket])

    def _run(self) -> None:
        asyncio.run(self.serve())
