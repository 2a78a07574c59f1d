"""The Salesforce emulator: OAuth JWT bearer login, the REST data API and its control API."""

from __future__ import annotations

from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from emulators.core import EmulatorCore
from emulators.salesforce.api_usage import DEFAULT_API_LIMIT, ApiUsage
from emulators.salesforce.control_api import ControlApi
from emulators.salesforce.fault_responses import serve_with_faults
from emulators.salesforce.oauth import JwtBearerIssuer, token_response
from emulators.salesforce.query import DEFAULT_BATCH_SIZE, QueryEngine
from emulators.salesforce.records import RecordStore
from emulators.salesforce.rest import RestApi
from emulators.server import EmulatorServer
from emulators.tls import ensure_tls_files


class SalesforceEmulator:
    """In-memory org; call counts per operation: "token", "query", "update", "composite"."""

    def __init__(
        self, *, api_limit: int = DEFAULT_API_LIMIT, query_batch_size: int = DEFAULT_BATCH_SIZE
    ) -> None:
        self.core = EmulatorCore()
        self.issuer = JwtBearerIssuer()
        self.records = RecordStore()
        self.queries = QueryEngine(self.records, query_batch_size)
        self.usage = ApiUsage(api_limit)
        self._initial_api_limit = api_limit
        self._initial_batch_size = query_batch_size

    def reset(self) -> None:
        """Empty the org's data: records, query cursors, API usage, settings.

        Connected apps and sessions survive, so a long-lived client stays logged in and call
        counts stay predictable; `expire_sessions` is the way to force a new login.
        """
        self.records.clear()
        self.queries.clear()
        self.queries.batch_size = self._initial_batch_size
        self.usage.used = 0
        self.usage.limit = self._initial_api_limit

    def asgi_app(self) -> Starlette:
        rest = RestApi(self.core, self.issuer, self.records, self.queries, self.usage)
        control = ControlApi(self.issuer, self.records, self.queries, self.usage)
        return Starlette(
            routes=[
                Route("/services/oauth2/token", self._token, methods=["POST"]),
                *rest.routes(),
                *self.core.control_routes(self.reset),
                *control.routes(),
            ]
        )

    async def _token(self, request: Request) -> Response:
        return await serve_with_faults(
            self.core, "token", lambda: token_response(self.issuer, request)
        )


async def run_salesforce_emulator(host: str, port: int, tls_dir: Path) -> None:
    """Serve a fresh emulator over TLS until cancelled; clients trust `tls_dir`'s CA file."""
    server = EmulatorServer(
        SalesforceEmulator().asgi_app(), host=host, port=port, tls=ensure_tls_files(tls_dir)
    )
    await server.serve()
