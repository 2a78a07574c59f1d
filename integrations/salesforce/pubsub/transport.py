"""Platform Events through the Pub/Sub API: one `Subscribe` stream (gRPC, HTTP/2, TLS) per
subscription, behind `PlatformEventTransport` like the CometD transport.

Flow control ("Pull Subscription and Flow Control",
https://developer.salesforce.com/docs/platform/pub-sub-api/guide/flow-control.html): the
transport asks for `batch_size` events, yields what arrives, and asks for the next batch
only once everything asked for was delivered and the caller has taken the last batch (the
bridge takes a batch back only after Temporal acknowledged it), so a slow Temporal slows
Salesforce down instead of filling memory. An empty FetchResponse is a keepalive: it is
yielded as an empty batch (the bridge's "nothing more to deliver").

Authentication is the JWT login's session as `accesstoken`, `instanceurl` and `tenantid`
metadata ("Supported Authentication Methods",
https://developer.salesforce.com/docs/platform/pub-sub-api/guide/supported-auth.html).
Every error closes the stream ("Handle Errors",
https://developer.salesforce.com/docs/platform/pub-sub-api/guide/handling-errors.html); the
transport subscribes again from `replay_from()` and logs each recovery once:

- `UNAUTHENTICATED`: at once, after logging in again; rejected again right after a fresh
  login, `StreamingError`.
- `UNAVAILABLE`, `DEADLINE_EXCEEDED`, `INTERNAL`, `RESOURCE_EXHAUSTED`, `UNKNOWN`,
  `ABORTED`, a stream the server ended: after a bounded exponential back-off.
- `sfdc.platform.eventbus.grpc.subscription.fetch.replayid.corrupted` (a malformed replay id,
  or one outside the 72 h retention): `InvalidReplayIdError`, so the bridge falls back to
  every retained event as it does on CometD.
- Anything else: `StreamingError`.

Replay ids are opaque bytes; a CometD replay id (an int) cannot resume a Pub/Sub
subscription and is refused as an invalid replay id.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from dataclasses import dataclass

import grpc
import structlog

from integrations.config import PlatformEventSettings, SalesforceSettings
from integrations.errors import TransientError
from integrations.salesforce.auth import SalesforceAuth, SalesforceToken
from integrations.salesforce.pubsub import pubsub_api_pb2 as api
from integrations.salesforce.pubsub import pubsub_api_pb2_grpc as api_grpc
from integrations.salesforce.pubsub.avro_payload import (
    PayloadDecodeError,
    SchemaCache,
    decode,
)
from integrations.salesforce.streaming import (
    AuthenticationInvalidError,
    InvalidReplayIdError,
    PlatformEvent,
    ReplayPosition,
    StreamingError,
    SubscriptionLostError,
    recover_subscription,
)

log = structlog.get_logger(__name__)

REPLAY_NEW = -1
REPLAY_ALL = -2
REPLAY_ID_CORRUPTED = "sfdc.platform.eventbus.grpc.subscription.fetch.replayid.corrupted"
_RETRYABLE = frozenset(
    {
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.INTERNAL,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        grpc.StatusCode.UNKNOWN,
        grpc.StatusCode.ABORTED,
    }
)


class _StreamLostError(SubscriptionLostError):
    recovery = "pubsub stream closed, subscribing again"


@dataclass
class _Subscription:
    token: SalesforceToken
    requests: asyncio.Queue[api.FetchRequest]


class PubSubTransport:
    """One `batches()` iteration at a time; cancel it before `aclose()`."""

    def __init__(
        self,
        settings: SalesforceSettings,
        events: PlatformEventSettings,
        auth: SalesforceAuth,
    ) -> None:
        self._auth = auth
        self._batch_size = events.pubsub_batch_size
        root_certificates = settings.ca_bundle.read_bytes() if settings.ca_bundle else None
        self._channel = grpc.aio.secure_channel(
            settings.pubsub_endpoint, grpc.ssl_channel_credentials(root_certificates)
        )
        self._stub = api_grpc.PubSubStub(self._channel)  # type: ignore[no-untyped-call]
        self._timeout_seconds = settings.timeout / 1000
        self._token: SalesforceToken | None = None
        self._schemas = SchemaCache(self._fetch_schema)

    async def batches(
        self, channel: str, replay_from: Callable[[], ReplayPosition]
    ) -> AsyncGenerator[list[PlatformEvent]]:
        lost_in_a_row: list[SubscriptionLostError] = []
        while True:
            try:
                async for batch in self._subscription(channel, replay_from()):
                    lost_in_a_row.clear()
                    yield batch
            except SubscriptionLostError as lost:
                lost_in_a_row.append(lost)
                await recover_subscription(self._auth, lost_in_a_row, log)

    async def check_subscription(self, channel: str) -> None:
        """GetTopic: the topic exists and this user may subscribe (`portalctl preflight`)."""
        token = await self._login()
        try:
            topic = await self._stub.GetTopic(
                api.TopicRequest(topic_name=channel),
                metadata=_metadata(token),
                timeout=self._timeout_seconds,
            )
        except grpc.aio.AioRpcError as error:
            raise StreamingError(f"GetTopic {channel}: {_describe(error)}") from None
        if not topic.can_subscribe:
            raise StreamingError(f"the integration user may not subscribe to {channel}")

    async def aclose(self) -> None:
        await self._channel.close()

    async def _subscription(
        self, channel: str, position: ReplayPosition
    ) -> AsyncIterator[list[PlatformEvent]]:
        first = _first_request(channel, position, self._batch_size)
        token = await self._login()
        requests: asyncio.Queue[api.FetchRequest] = asyncio.Queue()
        requests.put_nowait(first)
        call = self._stub.Subscribe(_drain(requests), metadata=_metadata(token))
        log.info(
            "platform event subscription started",
            channel=channel,
            transport="pubsub",
            replay_preset=api.ReplayPreset.Name(first.replay_preset),
        )
        try:
            while True:
                response = await call.read()
                if response is grpc.aio.EOF:
                    raise _StreamLostError("the server ended the stream")
                yield [await self._event(channel, event, token) for event in response.events]
                if response.pending_num_requested == 0:
                    requests.put_nowait(
                        api.FetchRequest(topic_name=channel, num_requested=self._batch_size)
                    )
        except grpc.aio.AioRpcError as error:
            raise _classified(error, token, position) from None
        finally:
            call.cancel()

    async def _event(
        self, channel: str, consumer_event: api.ConsumerEvent, token: SalesforceToken
    ) -> PlatformEvent:
        event = consumer_event.event
        try:
            schema = await self._schemas.schema(event.schema_id)
            payload, problem = decode(event.payload, schema), None
        except PayloadDecodeError as error:
            payload, problem = {}, str(error)
        except grpc.aio.AioRpcError as error:
            if error.code() != grpc.StatusCode.NOT_FOUND:
                raise
            payload, problem = {}, f"schema {event.schema_id} unknown to Salesforce"
        return PlatformEvent(
            channel=channel,
            replay_id=bytes(consumer_event.replay_id),
            event_uuid=event.id or None,
            payload=payload,
            decode_error=problem,
            raw_payload=bytes(event.payload) if problem else b"",
        )

    async def _fetch_schema(self, schema_id: str) -> str:
        token = await self._login()
        info = await self._stub.GetSchema(
            api.SchemaRequest(schema_id=schema_id),
            metadata=_metadata(token),
            timeout=self._timeout_seconds,
        )
        return str(info.schema_json)

    async def _login(self) -> SalesforceToken:
        try:
            return await asyncio.to_thread(self._auth.token)
        except TransientError as error:
            raise _StreamLostError(f"login: {error}") from None


def _first_request(channel: str, position: ReplayPosition, batch_size: int) -> api.FetchRequest:
    if isinstance(position, bytes):
        preset, replay_id = api.CUSTOM, position
    elif position == REPLAY_NEW:
        preset, replay_id = api.LATEST, b""
    elif position == REPLAY_ALL:
        preset, replay_id = api.EARLIEST, b""
    else:
        raise InvalidReplayIdError(
            position, f"{position} is a CometD replay id: it cannot resume a Pub/Sub subscription"
        )
    return api.FetchRequest(
        topic_name=channel, replay_preset=preset, replay_id=replay_id, num_requested=batch_size
    )


async def _drain(requests: asyncio.Queue[api.FetchRequest]) -> AsyncIterator[api.FetchRequest]:
    while True:
        yield await requests.get()


def _metadata(token: SalesforceToken) -> tuple[tuple[str, str], ...]:
    return (
        ("accesstoken", token.access_token),
        ("instanceurl", token.instance_url),
        ("tenantid", token.org_id),
    )


def _classified(
    error: grpc.aio.AioRpcError, token: SalesforceToken, position: ReplayPosition
) -> Exception:
    code = error.code()
    if code == grpc.StatusCode.UNAUTHENTICATED:
        return AuthenticationInvalidError(token, _describe(error))
    if _error_code(error) == REPLAY_ID_CORRUPTED and isinstance(position, bytes):
        return InvalidReplayIdError(position, _describe(error))
    if code in _RETRYABLE:
        return _StreamLostError(_describe(error))
    return StreamingError(f"Pub/Sub API Subscribe failed: {_describe(error)}")


def _error_code(error: grpc.aio.AioRpcError) -> str:
    for key, value in error.trailing_metadata() or ():
        if key == "error-code":
            return str(value)
    return ""


def _describe(error: grpc.aio.AioRpcError) -> str:
    described = f"{error.code().name}: {error.details()}"
    error_code = _error_code(error)
    return f"{described} ({error_code})" if error_code else described
