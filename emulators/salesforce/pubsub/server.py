"""The gRPC server of the Pub/Sub API, started and stopped with the emulator's ASGI app so
that it runs on the same event loop as the bus (TLS with the emulators' CA, like the REST
endpoints: Salesforce's Pub/Sub endpoint is TLS only)."""

from __future__ import annotations

import grpc

from emulators.salesforce.pubsub.service import PubSubService
from emulators.tls import TlsFiles
from integrations.salesforce.pubsub import pubsub_api_pb2_grpc as api_grpc

STOP_GRACE_SECONDS = 0.5


class PubSubServer:
    def __init__(self, service: PubSubService, *, host: str, port: int, tls: TlsFiles) -> None:
        self._service = service
        self._host = host
        self._tls = tls
        self.port = port
        """The port asked for; once started, the one listened on."""
        self._server: grpc.aio.Server | None = None

    async def start(self) -> None:
        server = grpc.aio.server()
        api_grpc.add_PubSubServicer_to_server(self._service, server)  # type: ignore[no-untyped-call]
        credentials = grpc.ssl_server_credentials(
            [(self._tls.key_path.read_bytes(), self._tls.cert_chain_path.read_bytes())]
        )
        self.port = server.add_secure_port(f"{self._host}:{self.port}", credentials)
        await server.start()
        self._server = server

    async def stop(self) -> None:
        if self._server is not None:
            await self._server.stop(STOP_GRACE_SECONDS)
            self._server = None
