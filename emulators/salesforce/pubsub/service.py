"""`eventbus.v1.PubSub`: Subscribe, GetSchema and GetTopic over the org's event bus.

What it acts out, as Salesforce documents it:

- Every call carries the `accesstoken`, `instanceurl` and `tenantid` metadata of a session
  ("Supported Authentication Methods",
  https://developer.salesforce.com/docs/platform/pub-sub-api/guide/supported-auth.html);
  a missing, expired or unknown token is `UNAUTHENTICATED` with the trailer `error-code:
  sfdc.platform.eventbus.grpc.service.auth.error`. An open stream whose session expires is
  closed the same way at its next delivery or request.
- Subscribe is pull-based ("Pull Subscription and Flow Control",
  https://developer.salesforce.com/docs/platform/pub-sub-api/guide/flow-control.html): the
  server never sends more events than were requested (`num_requested`, at most 100, added
  up across FetchRequests); each FetchResponse says how many are still pending. The replay
  preset and id of the first FetchRequest count, later ones are ignored.
- While requested events are pending and none arrive, an empty FetchResponse with
  `latest_replay_id` is a keepalive, within 270 s ("Subscribe RPC Method",
  https://developer.salesforce.com/docs/platform/pub-sub-api/references/methods/subscribe-rpc.html);
  a stream with nothing requested for 60 s of org time is closed (a slow consumer has to
  subscribe again). Both times are settable for tests and the demo.
- A CUSTOM replay id that is malformed or no longer retained (72 h) is `INVALID_ARGUMENT`
  with `error-code: sfdc.platform.eventbus.grpc.subscription.fetch.replayid.corrupted`
  ("Retry Long-Lived RPC Calls After an Error Occurs",
  https://developer.salesforce.com/docs/platform/pub-sub-api/guide/retry-rpc-calls.html).
- Replay ids are opaque bytes; here the 8-byte big-endian form of the bus's replay id, so
  one approval is the same event on CometD and on Pub/Sub.

Faults: `close_streams` ends every open stream with `UNAVAILABLE` (a server restart);
`issuer.expire_sessions` expires the tokens.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import grpc

from emulators.core import EmulatorCore
from emulators.salesforce.clock import OrgClock
from emulators.salesforce.event_bus import (
    REPLAY_ALL,
    REPLAY_NEW,
    EventBus,
    InvalidReplayIdError,
    PublishedEvent,
)
from emulators.salesforce.oauth import ORGANIZATION_ID, JwtBearerIssuer
from emulators.salesforce.pubsub import avro_schema
from integrations.salesforce.pubsub import pubsub_api_pb2 as api
from integrations.salesforce.pubsub import pubsub_api_pb2_grpc as api_grpc

AUTH_ERROR = "sfdc.platform.eventbus.grpc.service.auth.error"
REPLAY_ID_CORRUPTED = "sfdc.platform.eventbus.grpc.subscription.fetch.replayid.corrupted"
TOPIC_NOT_FOUND = "sfdc.platform.eventbus.grpc.topic.not.found"
MAX_REQUESTED = 100
DEFAULT_KEEPALIVE_SECONDS = 270.0
DEFAULT_IDLE_CLOSE_SECONDS = 60.0
_POLL_SECONDS = 0.05


def replay_id_bytes(replay_id: int) -> bytes:
    return replay_id.to_bytes(8, "big")


def _replay_id_number(replay_id: bytes) -> int | None:
    return int.from_bytes(replay_id, "big") if len(replay_id) == 8 else None


@dataclass
class _Stream:
    topic: str
    token: str
    position: int
    """Replay id of the last event delivered (or where the subscription started)."""
    pending: int = 0
    idle_since: datetime | None = None
    """Org time since which nothing was requested."""
    last_response: float = field(default_factory=time.monotonic)
    closed: bool = False
    refusal: tuple[grpc.StatusCode, str, str] | None = None
    """A later FetchRequest the server refuses: status, error code, message."""
    wakeup: asyncio.Event = field(default_factory=asyncio.Event)

    def describe(self) -> dict[str, Any]:
        return {"topic": self.topic, "position": self.position, "pending": self.pending}


class PubSubService(api_grpc.PubSubServicer):
    """Runs on the emulator's event loop only, like the bus."""

    def __init__(
        self, core: EmulatorCore, issuer: JwtBearerIssuer, bus: EventBus, clock: OrgClock
    ) -> None:
        self._core = core
        self._issuer = issuer
        self._bus = bus
        self._clock = clock
        self._streams: list[_Stream] = []
        self.keepalive_seconds = DEFAULT_KEEPALIVE_SECONDS
        self.idle_close_seconds = DEFAULT_IDLE_CLOSE_SECONDS
        bus.on_publish(lambda _channel: self._wake_all())

    def streams(self) -> list[dict[str, Any]]:
        return [stream.describe() for stream in self._streams]

    def close_streams(self) -> None:
        for stream in self._streams:
            stream.closed = True
        self._wake_all()

    def reset(self) -> None:
        self.keepalive_seconds = DEFAULT_KEEPALIVE_SECONDS
        self.idle_close_seconds = DEFAULT_IDLE_CLOSE_SECONDS

    async def GetTopic(  # noqa: N802 (the RPC's name)
        self, request: api.TopicRequest, context: grpc.aio.ServicerContext
    ) -> api.TopicInfo:
        self._core.record_call("get_topic")
        await self._authenticate(context)
        await self._check_topic(request.topic_name, context)
        return api.TopicInfo(
            topic_name=request.topic_name,
            tenant_guid=ORGANIZATION_ID,
            can_publish=True,
            can_subscribe=True,
            schema_id=avro_schema.schema_id(request.topic_name),
            rpc_id=_rpc_id(),
        )

    async def GetSchema(  # noqa: N802
        self, request: api.SchemaRequest, context: grpc.aio.ServicerContext
    ) -> api.SchemaInfo:
        self._core.record_call("get_schema")
        await self._authenticate(context)
        for topic in self._bus.channels():
            if avro_schema.schema_id(topic) == request.schema_id:
                return api.SchemaInfo(
                    schema_json=avro_schema.schema_json(topic),
                    schema_id=request.schema_id,
                    rpc_id=_rpc_id(),
                )
        await _abort(context, grpc.StatusCode.NOT_FOUND, "schema.not.found", "no such schema")
        raise AssertionError("unreachable")

    async def Subscribe(  # noqa: N802
        self, requests: AsyncIterator[api.FetchRequest], context: grpc.aio.ServicerContext
    ) -> AsyncIterator[api.FetchResponse]:
        self._core.record_call("subscribe")
        token = await self._authenticate(context)
        first = await anext(requests, None)
        if first is None:
            return
        await self._check_topic(first.topic_name, context)
        stream = _Stream(first.topic_name, token, await self._start(first, context))
        self._request(stream, first)
        await self._check_open(stream, context)
        self._streams.append(stream)
        reader = asyncio.create_task(self._read_requests(stream, requests))
        try:
            while True:
                await self._check_open(stream, context)
                response = self._next_response(stream)
                if response is not None:
                    stream.last_response = time.monotonic()
                    yield response
                    continue
                stream.wakeup.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stream.wakeup.wait(), _POLL_SECONDS)
        finally:
            reader.cancel()
            self._streams.remove(stream)

    async def _read_requests(
        self, stream: _Stream, requests: AsyncIterator[api.FetchRequest]
    ) -> None:
        async for request in requests:
            self._request(stream, request)
            stream.wakeup.set()

    def _request(self, stream: _Stream, request: api.FetchRequest) -> None:
        if request.topic_name and request.topic_name != stream.topic:
            stream.refusal = (
                grpc.StatusCode.INVALID_ARGUMENT,
                "sfdc.platform.eventbus.grpc.subscription.topic.mismatch",
                "the topic of a subscription cannot change",
            )
        elif not 0 < request.num_requested <= MAX_REQUESTED:
            stream.refusal = (
                grpc.StatusCode.INVALID_ARGUMENT,
                "sfdc.platform.eventbus.grpc.subscription.fetch.numrequested.invalid",
                f"num_requested must be between 1 and {MAX_REQUESTED}",
            )
        else:
            stream.pending += request.num_requested
            stream.idle_since = None

    async def _start(self, first: api.FetchRequest, context: grpc.aio.ServicerContext) -> int:
        preset = first.replay_preset
        if preset == api.LATEST:
            return self._bus.start_position(first.topic_name, REPLAY_NEW)
        if preset == api.EARLIEST:
            return self._bus.start_position(first.topic_name, REPLAY_ALL)
        number = _replay_id_number(first.replay_id)
        try:
            if number is None:
                raise InvalidReplayIdError(first.replay_id.hex())
            return self._bus.start_position(first.topic_name, number)
        except InvalidReplayIdError:
            await _abort(
                context,
                grpc.StatusCode.INVALID_ARGUMENT,
                REPLAY_ID_CORRUPTED,
                "The Replay ID validation failed: it is corrupted or outside the retention window",
            )
            raise

    def _next_response(self, stream: _Stream) -> api.FetchResponse | None:
        if stream.pending > 0:
            events = self._bus.after(stream.topic, stream.position)[: stream.pending]
            if events:
                stream.pending -= len(events)
                stream.position = events[-1].replay_id
                if stream.pending == 0:
                    stream.idle_since = self._clock.now()
                return self._response(stream, [self._consumer_event(e) for e in events])
        waited = time.monotonic() - stream.last_response
        if stream.pending > 0 and waited >= self.keepalive_seconds:
            return self._response(stream, [])
        return None

    def _response(self, stream: _Stream, events: list[api.ConsumerEvent]) -> api.FetchResponse:
        latest = self._bus.latest_replay_id(stream.topic) if not events else stream.position
        return api.FetchResponse(
            events=events,
            latest_replay_id=replay_id_bytes(latest),
            rpc_id=_rpc_id(),
            pending_num_requested=stream.pending,
        )

    def _consumer_event(self, event: PublishedEvent) -> api.ConsumerEvent:
        return api.ConsumerEvent(
            event=api.ProducerEvent(
                id=event.event_uuid,
                schema_id=avro_schema.schema_id(event.channel),
                payload=avro_schema.encode(event.channel, event.payload),
            ),
            replay_id=replay_id_bytes(event.replay_id),
        )

    async def _check_open(self, stream: _Stream, context: grpc.aio.ServicerContext) -> None:
        if stream.refusal is not None:
            await _abort(context, *stream.refusal)
        if stream.closed:
            await _abort(
                context, grpc.StatusCode.UNAVAILABLE, "stream.closed", "the server closed it"
            )
        if not self._issuer.is_valid_session(stream.token):
            await _abort(context, grpc.StatusCode.UNAUTHENTICATED, AUTH_ERROR, "session expired")
        idle_limit = timedelta(seconds=self.idle_close_seconds)
        if stream.idle_since is not None and self._clock.now() - stream.idle_since > idle_limit:
            await _abort(
                context,
                grpc.StatusCode.UNAVAILABLE,
                "sfdc.platform.eventbus.grpc.subscription.idle",
                "no events requested in time: subscribe again",
            )

    async def _authenticate(self, context: grpc.aio.ServicerContext) -> str:
        metadata = dict(context.invocation_metadata() or ())
        token = str(metadata.get("accesstoken", ""))
        if (
            not token
            or not self._issuer.is_valid_session(token)
            or metadata.get("tenantid") != ORGANIZATION_ID
            or not metadata.get("instanceurl")
        ):
            await _abort(
                context, grpc.StatusCode.UNAUTHENTICATED, AUTH_ERROR, "authentication failed"
            )
        return token

    async def _check_topic(self, topic: str, context: grpc.aio.ServicerContext) -> None:
        if topic not in self._bus.channels():
            await _abort(context, grpc.StatusCode.NOT_FOUND, TOPIC_NOT_FOUND, f"no topic {topic}")

    def _wake_all(self) -> None:
        for stream in self._streams:
            stream.wakeup.set()


async def _abort(
    context: grpc.aio.ServicerContext, code: grpc.StatusCode, error_code: str, message: str
) -> None:
    rpc_id = _rpc_id()
    context.set_trailing_metadata((("error-code", error_code), ("rpc-id", rpc_id)))
    await context.abort(code, f"{message} rpcId: {rpc_id}")


def _rpc_id() -> str:
    return str(uuid.uuid4())
