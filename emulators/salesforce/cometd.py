"""The Streaming API's CometD endpoint: Bayeux 1.0, long polling only, `POST /cometd/XX.X`.

A request body is a JSON array of Bayeux messages; the answer is a JSON array holding the
delivered events first, then one reply per message. What it acts out, as Salesforce
documents it (Streaming API Developer Guide, "Handling Streaming API Errors",
https://developer.salesforce.com/docs/atlas.en-us.260.0.api_streaming.meta/api_streaming/streaming_handling_errors.htm):

- Every request carries `Authorization: Bearer <access token>` (or `OAuth <token>`). A
  handshake with a missing, expired or unknown token is answered HTTP 200 with
  `403::Handshake denied`, `ext.sfdc.failureReason` `401::Authentication invalid` (or
  `401::Request requires authentication` without a token) and advice `reconnect: none`.
  Any other meta message gets `error: 401::Authentication invalid`, advice `reconnect: none`.
- A successful handshake sets the `BAYEUX_BROWSER` cookie. Later messages must carry it and
  the clientId issued with it, else `403::Unknown client` with advice `reconnect: handshake`
  (the answer to a client the server has forgotten, e.g. after `drop_clients`).
- The reconnect deadline ("Clients and Timeouts",
  https://developer.salesforce.com/docs/platform/api-streaming/guide/using-streaming-api-timeouts.html):
  a client that does not come back within 40 s (`reconnect_deadline_seconds`) of a response
  (events, a subscribe result, and so on) is forgotten, and its next message gets
  `403::Unknown client`: it must handshake, subscribe and connect again. The time is the
  org's clock, so a test moves it on (`advance_clock`) instead of waiting; a held
  `/meta/connect` is the server's own wait and does not count.
- `/meta/subscribe` takes `ext.replay {channel: id}`: -1 new events only (the default),
  -2 every retained event, N the events after N, which must still be retained
  ("Message Durability"), else `400::The replayId {N} you provided was invalid. ...`.
- A subscription that continues from an event (the N it was given, then each event
  delivered) needs that event retained for as long as it runs: once it is purged (72 h),
  the next `/meta/connect` is refused with the same invalid-replay-id error. A subscribed
  client can get it on `/meta/connect`, not only on `/meta/subscribe` (Salesforce Help
  005321562, "CometD Subscribers May Lose Events and Receive Invalid ReplayId ...",
  https://help.salesforce.com/s/articleView?id=005321562&language=en_US&type=1). No advice
  comes with it (none is documented), so a client must recognise the error itself.
- The first `/meta/connect` after a handshake is answered at once, as CometD servers do;
  later ones are held until an event arrives or the advice timeout (`hold_seconds`) passes.

Faults and call counts use the operation named by the first message of a request:
"handshake", "subscribe", "connect", "unsubscribe", "disconnect".
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import secrets
import string
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from emulators.core import EmulatorCore
from emulators.salesforce.clock import OrgClock
from emulators.salesforce.event_bus import (
    PLATFORM_EVENT_CHANNELS,
    REPLAY_ALL,
    REPLAY_NEW,
    EventBus,
    InvalidReplayIdError,
    PublishedEvent,
)
from emulators.salesforce.fault_responses import serve_with_faults
from emulators.salesforce.oauth import JwtBearerIssuer

BROWSER_COOKIE = "BAYEUX_BROWSER"
DEFAULT_CONNECT_HOLD_SECONDS = 110.0
DEFAULT_RECONNECT_DEADLINE_SECONDS = 40.0
MISSING_TOKEN = "401::Request requires authentication"
INVALID_TOKEN = "401::Authentication invalid"
UNKNOWN_CLIENT = "403::Unknown client"

_VERSION = re.compile(r"\d{2}\.0")
_SERVER_EXT = {"replay": True, "payload.format": True}
_ADVICE_HANDSHAKE = {"reconnect": "handshake", "interval": 0}
_ADVICE_NONE = {"reconnect": "none", "interval": 0}
_CLIENT_ID_ALPHABET = string.ascii_lowercase + string.digits

Message = dict[str, Any]


@dataclass
class _Client:
    client_id: str
    browser_id: str
    answered_at: datetime
    """Org time of the last response to this client: the reconnect deadline runs from it."""
    positions: dict[str, int] = field(default_factory=dict)
    """Subscribed channel -> replay id of the last event delivered (or the start position)."""
    continues_from_event: set[str] = field(default_factory=set)
    """Channels whose position is an event's replay id (given in the subscription, or the
    last event delivered): the subscription continues from that event, which must still be
    retained; -1 and -2 name no event."""
    connected: bool = False
    dropped: bool = False
    answering: int = 0
    """Messages of this client being answered now (a held connect among them)."""
    held: bool = False
    """A `/meta/connect` of this client is being held."""
    wakeup: asyncio.Event = field(default_factory=asyncio.Event)

    def subscription_lost(self, bus: EventBus) -> InvalidReplayIdError | None:
        """The invalid-replay-id error of a subscription whose event was purged, if any."""
        for channel in sorted(self.continues_from_event):
            position = self.positions.get(channel)
            if position is not None and not bus.is_retained(channel, position):
                return InvalidReplayIdError(position)
        return None


@dataclass
class _Exchange:
    """What one HTTP request brings: its session check and its browser cookie."""

    auth_failure: str | None
    browser_id: str | None
    issued_browser_id: bool = False


class _RefusedError(Exception):
    def __init__(self, message: Message, error: str, **fields: Any) -> None:
        super().__init__(error)
        self.reply = _reply(message, successful=False, error=error, **fields)


class CometdEndpoint:
    """Handshaken clients and their subscriptions; runs on the emulator's event loop only."""

    def __init__(
        self,
        core: EmulatorCore,
        issuer: JwtBearerIssuer,
        bus: EventBus,
        clock: OrgClock,
        *,
        hold_seconds: float = DEFAULT_CONNECT_HOLD_SECONDS,
        reconnect_deadline_seconds: float = DEFAULT_RECONNECT_DEADLINE_SECONDS,
    ) -> None:
        self._core = core
        self._issuer = issuer
        self._bus = bus
        self._clock = clock
        self.hold_seconds = hold_seconds
        self.reconnect_deadline_seconds = reconnect_deadline_seconds
        self._clients: dict[str, _Client] = {}
        self._handlers: dict[str, Callable[[Message, _Exchange], Awaitable[list[Message]]]] = {
            "/meta/handshake": self._handshake,
            "/meta/subscribe": self._subscribe,
            "/meta/unsubscribe": self._unsubscribe,
            "/meta/connect": self._connect,
            "/meta/disconnect": self._disconnect,
        }
        bus.on_publish(self._wake_subscribers)

    def routes(self) -> list[Route]:
        return [Route("/cometd/{version}", self._serve, methods=["POST"])]

    def drop_clients(self) -> None:
        """Forget every client, as after a server restart; held connects answer at once."""
        for client in self._clients.values():
            _drop(client)
        self._clients.clear()

    def clients(self) -> list[dict[str, Any]]:
        """What the server knows of each client (for tests): whether a connect of it is held
        now, and where each of its subscriptions stands."""
        return [
            {
                "client_id": client.client_id,
                "waiting": client.held,
                "positions": dict(client.positions),
            }
            for client in self._clients.values()
        ]

    async def _serve(self, request: Request) -> Response:
        version = request.path_params["version"]
        if not _VERSION.fullmatch(version):
            return PlainTextResponse(f"400::Unsupported API version {version}", status_code=400)
        messages = _messages(await request.body())
        if messages is None:
            return PlainTextResponse("400::Malformed Bayeux message array", status_code=400)
        exchange = _Exchange(self._auth_failure(request), request.cookies.get(BROWSER_COOKIE))
        secure = request.url.scheme == "https"
        return await serve_with_faults(
            self._core, _operation(messages), lambda: self._answer(messages, exchange, secure)
        )

    async def _answer(self, messages: list[Message], exchange: _Exchange, secure: bool) -> Response:
        answer: list[Message] = []
        for message in messages:
            answer.extend(await self._handle(message, exchange))
        response = JSONResponse(answer)
        if exchange.issued_browser_id and exchange.browser_id is not None:
            response.set_cookie(
                BROWSER_COOKIE, exchange.browser_id, path="/", secure=secure, httponly=True
            )
        return response

    async def _handle(self, message: Message, exchange: _Exchange) -> list[Message]:
        channel = message.get("channel")
        handler = self._handlers.get(channel) if isinstance(channel, str) else None
        try:
            if handler is None:
                raise _RefusedError(message, f"400::Unsupported channel {channel}")
            return await handler(message, exchange)
        except _RefusedError as refused:
            return [refused.reply]

    def _auth_failure(self, request: Request) -> str | None:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() not in ("bearer", "oauth") or not token:
            return MISSING_TOKEN
        return None if self._issuer.is_valid_session(token) else INVALID_TOKEN

    async def _handshake(self, message: Message, exchange: _Exchange) -> list[Message]:
        if exchange.auth_failure is not None:
            raise _RefusedError(
                message,
                "403::Handshake denied",
                advice={"reconnect": "none"},
                ext={"sfdc": {"failureReason": exchange.auth_failure}, **_SERVER_EXT},
            )
        if exchange.browser_id is None:
            exchange.browser_id = secrets.token_hex(16)
            exchange.issued_browser_id = True
        client = _Client(_new_client_id(), exchange.browser_id, self._clock.now())
        self._clients[client.client_id] = client
        reply = _reply(
            message,
            clientId=client.client_id,
            successful=True,
            version="1.0",
            minimumVersion="1.0",
            supportedConnectionTypes=["long-polling"],
            advice=self._advice(),
            ext=_SERVER_EXT,
        )
        return [reply]

    async def _subscribe(self, message: Message, exchange: _Exchange) -> list[Message]:
        client = self._client(message, exchange)
        with self._answering(client):
            channel = _subscription(message)
            if channel not in PLATFORM_EVENT_CHANNELS:
                raise _RefusedError(
                    message,
                    f"400::The channel you requested to subscribe to does not exist {channel}",
                    subscription=channel,
                )
            try:
                replay_id = _replay_id(message, channel)
                client.positions[channel] = self._bus.start_position(channel, replay_id)
            except InvalidReplayIdError as error:
                raise _RefusedError(message, str(error), subscription=channel) from None
            if replay_id in (REPLAY_NEW, REPLAY_ALL):
                client.continues_from_event.discard(channel)
            else:
                client.continues_from_event.add(channel)
            reply = _reply(
                message, clientId=client.client_id, subscription=channel, successful=True
            )
            return [reply]

    async def _unsubscribe(self, message: Message, exchange: _Exchange) -> list[Message]:
        client = self._client(message, exchange)
        with self._answering(client):
            channel = _subscription(message)
            client.positions.pop(channel, None)
            client.continues_from_event.discard(channel)
            reply = _reply(
                message, clientId=client.client_id, subscription=channel, successful=True
            )
            return [reply]

    async def _connect(self, message: Message, exchange: _Exchange) -> list[Message]:
        client = self._client(message, exchange)
        with self._answering(client):
            if client.connected:
                await self._hold(client)
            client.connected = True
            if client.dropped:
                raise _RefusedError(message, UNKNOWN_CLIENT, advice=_ADVICE_HANDSHAKE)
            lost = client.subscription_lost(self._bus)
            if lost is not None:
                raise _RefusedError(message, str(lost), clientId=client.client_id)
            events = [event.message() for event in self._take_pending(client)]
            reply = _reply(
                message, clientId=client.client_id, successful=True, advice=self._advice()
            )
            return [*events, reply]

    async def _disconnect(self, message: Message, exchange: _Exchange) -> list[Message]:
        client = self._client(message, exchange)
        _drop(self._clients.pop(client.client_id))
        return [_reply(message, clientId=client.client_id, successful=True)]

    def _client(self, message: Message, exchange: _Exchange) -> _Client:
        if exchange.auth_failure is not None:
            raise _RefusedError(message, exchange.auth_failure, advice=_ADVICE_NONE)
        client = self._clients.get(str(message.get("clientId")))
        if client is None or client.browser_id != exchange.browser_id:
            raise _RefusedError(message, UNKNOWN_CLIENT, advice=_ADVICE_HANDSHAKE)
        if self._missed_reconnect_deadline(client):
            _drop(self._clients.pop(client.client_id))
            raise _RefusedError(message, UNKNOWN_CLIENT, advice=_ADVICE_HANDSHAKE)
        return client

    def _missed_reconnect_deadline(self, client: _Client) -> bool:
        if client.answering:
            return False
        deadline = timedelta(seconds=self.reconnect_deadline_seconds)
        return self._clock.now() - client.answered_at > deadline

    @contextlib.contextmanager
    def _answering(self, client: _Client) -> Iterator[None]:
        """While a message of the client is answered the deadline does not run; it starts
        again from the response."""
        client.answering += 1
        try:
            yield
        finally:
            client.answering -= 1
            client.answered_at = self._clock.now()

    async def _hold(self, client: _Client) -> None:
        client.held = True
        try:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.hold_seconds):
                    while (
                        not client.dropped
                        and not self._pending(client)
                        and client.subscription_lost(self._bus) is None
                    ):
                        client.wakeup.clear()
                        await client.wakeup.wait()
        finally:
            client.held = False

    def _pending(self, client: _Client) -> list[PublishedEvent]:
        pending = [
            event
            for channel, position in client.positions.items()
            for event in self._bus.after(channel, position)
        ]
        return sorted(pending, key=lambda event: event.sequence)

    def _take_pending(self, client: _Client) -> list[PublishedEvent]:
        pending = self._pending(client)
        for event in pending:
            client.positions[event.channel] = event.replay_id
            client.continues_from_event.add(event.channel)
        return pending

    def _wake_subscribers(self, channel: str) -> None:
        for client in self._clients.values():
            if channel in client.positions:
                client.wakeup.set()

    def _advice(self) -> dict[str, Any]:
        return {"interval": 0, "timeout": int(self.hold_seconds * 1000), "reconnect": "retry"}


def _drop(client: _Client) -> None:
    client.dropped = True
    client.wakeup.set()


def _reply(message: Message, **fields: Any) -> Message:
    reply: Message = {"channel": message.get("channel"), **fields}
    if "id" in message:
        reply["id"] = message["id"]
    return reply


def _messages(body: bytes) -> list[Message] | None:
    """The request's messages; a single object counts as a one-message array."""
    try:
        parsed = json.loads(body)
    except ValueError:
        return None
    messages = [parsed] if isinstance(parsed, dict) else parsed
    if not isinstance(messages, list) or not messages:
        return None
    return messages if all(isinstance(message, dict) for message in messages) else None


def _operation(messages: list[Message]) -> str:
    channel = str(messages[0].get("channel"))
    return channel.removeprefix("/meta/") if channel.startswith("/meta/") else "publish"


def _subscription(message: Message) -> str:
    channel = message.get("subscription")
    if not isinstance(channel, str) or not channel:
        raise _RefusedError(message, "400::Channel name not specified")
    return channel


def _replay_id(message: Message, channel: str) -> int:
    ext = message.get("ext")
    replay = ext.get("replay") if isinstance(ext, dict) else None
    replay_id = replay.get(channel, REPLAY_NEW) if isinstance(replay, dict) else REPLAY_NEW
    if not isinstance(replay_id, int) or isinstance(replay_id, bool):
        raise InvalidReplayIdError(replay_id)
    return replay_id


def _new_client_id() -> str:
    return "".join(secrets.choice(_CLIENT_ID_ALPHABET) for _ in range(27))
