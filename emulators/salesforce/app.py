"""The Salesforce emulator: OAuth JWT bearer login, the REST data API, the Streaming API
(CometD Platform Events), the Pub/Sub API (gRPC, same events) and its control API."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from emulators.core import EmulatorCore
from emulators.salesforce.api_usage import DEFAULT_API_LIMIT, ApiUsage
from emulators.salesforce.clock import OrgClock
from emulators.salesforce.cometd import (
    DEFAULT_CONNECT_HOLD_SECONDS,
    DEFAULT_RECONNECT_DEADLINE_SECONDS,
    CometdEndpoint,
)
from emulators.salesforce.control_api import ControlApi
from emulators.salesforce.describe import FieldDefinitions
from emulators.salesforce.event_bus import EventBus
from emulators.salesforce.fault_responses import RecordErrors, serve_with_faults
from emulators.salesforce.oauth import JwtBearerIssuer, token_response
from emulators.salesforce.pubsub.control_routes import pubsub_control_routes
from emulators.salesforce.pubsub.server import PubSubServer
from emulators.salesforce.pubsub.service import PubSubService
from emulators.salesforce.query import DEFAULT_BATCH_SIZE, QueryEngine
from emulators.salesforce.records import RecordStore
from emulators.salesforce.rest import RestApi
from emulators.tls import TlsFiles


class SalesforceEmulator:
    """In-memory org; call counts per operation: "token", "query", "update", "composite",
    the CometD ones: "handshake", "subscribe", "connect", "unsubscribe", "disconnect", and the
    Pub/Sub API's: "subscribe", "get_topic", "get_schema".

    With `pubsub_tls`, the ASGI app's lifespan also serves the Pub/Sub API (gRPC) on
    `pubsub_port` (0: a free one, known as `pubsub_port` once the app has started)."""

    def __init__(
        self,
        *,
        api_limit: int = DEFAULT_API_LIMIT,
        query_batch_size: int = DEFAULT_BATCH_SIZE,
        connect_hold_seconds: float = DEFAULT_CONNECT_HOLD_SECONDS,
        pubsub_tls: TlsFiles | None = None,
        pubsub_host: str = "127.0.0.1",
        pubsub_port: int = 0,
    ) -> None:
        self.core = EmulatorCore()
        self.issuer = JwtBearerIssuer()
        self.records = RecordStore()
        self.queries = QueryEngine(self.records, query_batch_size)
        self.usage = ApiUsage(api_limit)
        self.record_errors = RecordErrors()
        self.field_definitions = FieldDefinitions()
        self.clock = OrgClock()
        self.events = EventBus(self.clock)
        self.cometd = CometdEndpoint(
            self.core, self.issuer, self.events, self.clock, hold_seconds=connect_hold_seconds
        )
        self.pubsub = PubSubService(self.core, self.issuer, self.events, self.clock)
        self._pubsub_server = (
            PubSubServer(self.pubsub, host=pubsub_host, port=pubsub_port, tls=pubsub_tls)
            if pubsub_tls
            else None
        )
        self._initial_api_limit = api_limit
        self._initial_batch_size = query_batch_size
        self._initial_connect_hold = connect_hold_seconds

    def reset(self) -> None:
        """Empty the org's data: records, query cursors, events, API usage, settings, clock.

        Connected apps, sessions and CometD clients survive, so a long-lived client stays
        logged in and subscribed and call counts stay predictable; `expire_sessions` is the
        way to force a new login, `drop_cometd_clients` a new handshake. Injected record
        errors go, like the faults.
        """
        self.records.clear()
        self.record_errors.clear()
        self.field_definitions.clear()
        self.queries.clear()
        self.queries.batch_size = self._initial_batch_size
        self.usage.used = 0
        self.usage.limit = self._initial_api_limit
        self.events.clear()
        self.clock.reset()
        self.cometd.hold_seconds = self._initial_connect_hold
        self.cometd.reconnect_deadline_seconds = DEFAULT_RECONNECT_DEADLINE_SECONDS
        self.pubsub.reset()

    @property
    def pubsub_port(self) -> int | None:
        return self._pubsub_server.port if self._pubsub_server else None

    def asgi_app(self) -> Starlette:
        rest = RestApi(
            self.core,
            self.issuer,
            self.records,
            self.queries,
            self.usage,
            self.record_errors,
            self.field_definitions,
        )
        control = ControlApi(
            self.issuer,
            self.records,
            self.queries,
            self.usage,
            events=self.events,
            cometd=self.cometd,
            clock=self.clock,
            record_errors=self.record_errors,
        )
        return Starlette(
            routes=[
                Route("/services/oauth2/token", self._token, methods=["POST"]),
                *rest.routes(),
                *self.cometd.routes(),
                *self.core.control_routes(self.reset),
                *control.routes(),
                *self.field_definitions.control_routes(),
                *pubsub_control_routes(self.pubsub),
            ],
            lifespan=self._lifespan,
        )

    @asynccontextmanager
    async def _lifespan(self, _: Starlette) -> AsyncIterator[None]:
        if self._pubsub_server is None:
            yield
            return
        await self._pubsub_server.start()
        try:
            yield
        finally:
            await self._pubsub_server.stop()

    async def _token(self, request: Request) -> Response:
        return await serve_with_faults(
            self.core, "token", lambda: token_response(self.issuer, request)
        )
