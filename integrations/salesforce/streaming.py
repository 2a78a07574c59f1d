"""Platform Events from the Salesforce Streaming API: CometD (Bayeux 1.0) long polling with
the replay extension, behind `PlatformEventTransport` so a Pub/Sub API (gRPC) transport can
take its place.

The transport recovers by itself, logging each recovery once, and every time starts again
with a handshake and a subscription from `replay_from()`:

- `403::Unknown client` or advice `reconnect: handshake`: at once.
- `401::...` (also nested in `403::Handshake denied`) or HTTP 401: after logging in again.
- Network errors, timeouts, HTTP 5xx/429, a failure advising `retry`: after a bounded
  exponential back-off.

`403::Unknown client` is also how Salesforce answers a client that did not reconnect within
40 s of a response (events, a subscribe result, ...): the server has forgotten it ("Clients
and Timeouts",
https://developer.salesforce.com/docs/platform/api-streaming/guide/using-streaming-api-timeouts.html),
so a slow hand-over of a batch costs one handshake, never an event.

Failures in a row back off too; a fresh login rejected again raises `StreamingError`, as
does anything else unexpected; a login Salesforce refuses raises the `AuthenticationError`
of `SalesforceAuth`. An invalid replay id raises `InvalidReplayIdError`, so the caller can
fall back to replaying everything retained (-2): on `/meta/subscribe`, and on `/meta/connect`
too, where a subscribed client gets it once the events its subscription continues from were
purged (Salesforce Help 005321562,
https://help.salesforce.com/s/articleView?id=005321562&language=en_US&type=1). The error
comes without usable advice there, so it is recognised by its text before the advice is read.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

import httpx
import structlog
from pydantic import BaseModel

from integrations.config import SalesforceSettings
from integrations.errors import TransientError
from integrations.salesforce.auth import SalesforceAuth, SalesforceToken, tls_verification

log = structlog.get_logger(__name__)

BAYEUX_VERSION = "1.0"
LONG_POLLING = "long-polling"
INITIAL_BACKOFF_SECONDS = 0.5
MAX_BACKOFF_SECONDS = 30.0
_INVALID_REPLAY_ID = re.compile(r"400::The replayId \{?(-?\d+)?.*? you provided was invalid")
"""Salesforce puts the id in braces: "400::The replayId {1553783} you provided was invalid.
Please provide a valid ID, -2 to replay all events, or -1 to replay only new events."
(https://github.com/forcedotcom/EMP-Connector/issues/14)."""

Message = dict[str, Any]
ReplayPosition = int | bytes
"""Where a subscription starts: -1 (new events), -2 (every retained event), or after an
event: its replay id, an int on CometD, opaque bytes on the Pub/Sub API."""


class PlatformEvent(BaseModel):
    channel: str
    replay_id: int | bytes
    """An int on CometD, opaque bytes on the Pub/Sub API."""
    event_uuid: str | None
    payload: dict[str, Any]
    decode_error: str | None = None
    """Why the payload could not be decoded; the event is delivered all the same, with
    `raw_payload`, so that the intake parks it (every transport does this)."""
    raw_payload: bytes = b""


class StreamingError(Exception):
    """The Streaming API answered in a way the transport cannot recover from."""


class InvalidReplayIdError(StreamingError):
    """The replay id is outside the retention window (or never existed)."""

    def __init__(self, replay_id: ReplayPosition, message: str) -> None:
        super().__init__(message)
        self.replay_id = replay_id


class PlatformEventTransport(Protocol):
    def batches(
        self, channel: str, replay_from: Callable[[], ReplayPosition]
    ) -> AsyncIterator[list[PlatformEvent]]:
        """Events of `channel` in arrival order, one list per server response (possibly
        empty); every (re)subscription starts after `replay_from()` (-1 new, -2 retained)."""
        ...

    async def check_subscription(self, channel: str) -> None:
        """Whether the integration user may subscribe to `channel`, consuming no event."""
        ...

    async def aclose(self) -> None: ...


class SubscriptionLostError(Exception):
    """A transport subscribes again from `replay_from()`: `recovery` is the line it logs,
    `retry_at_once` whether its first try goes without waiting."""

    recovery: ClassVar[str]
    retry_at_once: ClassVar[bool] = False


class AuthenticationInvalidError(SubscriptionLostError):
    """Salesforce rejected the session's token: log in again, at once."""

    recovery = "salesforce session invalid, logging in again"
    retry_at_once = True

    def __init__(self, token: SalesforceToken, reason: str) -> None:
        super().__init__(reason)
        self.token = token


async def recover_subscription(
    auth: SalesforceAuth, lost_in_a_row: list[SubscriptionLostError], logger: Any
) -> None:
    """Log the recovery, log out a rejected token, and wait if the failures go on; a fresh
    session rejected again is a `StreamingError`."""
    lost, attempt = lost_in_a_row[-1], len(lost_in_a_row)
    delay = 0.0 if lost.retry_at_once and attempt == 1 else _backoff_seconds(attempt)
    logger.warning(lost.recovery, reason=str(lost), attempt=attempt, retry_in_seconds=delay)
    if isinstance(lost, AuthenticationInvalidError):
        if attempt > 1 and isinstance(lost_in_a_row[-2], AuthenticationInvalidError):
            raise StreamingError(f"Salesforce rejected a fresh session: {lost}")
        auth.invalidate(lost.token)
    await asyncio.sleep(delay)


class _SessionLostError(SubscriptionLostError):
    """The CometD client has to start again from a handshake."""

    recovery = "cometd session lost, handshaking again"
    retry_at_once = True


class _UnknownClientError(_SessionLostError):
    recovery = "salesforce forgot the cometd client, handshaking again"


class _UnavailableError(_SessionLostError):
    recovery = "salesforce streaming unavailable, retrying"
    retry_at_once = False


@dataclass(frozen=True)
class _Advice:
    """The server's reconnect advice; times in milliseconds as on the wire."""

    interval: int = 0
    timeout: int = 110_000
    reconnect: str = "retry"

    def updated(self, reply: Message) -> _Advice:
        advice = reply.get("advice")
        if not isinstance(advice, dict):
            return self
        return _Advice(
            interval=_milliseconds(advice.get("interval"), self.interval),
            timeout=_milliseconds(advice.get("timeout"), self.timeout),
            reconnect=str(advice.get("reconnect", self.reconnect)),
        )


@dataclass
class _Session:
    token: SalesforceToken
    client_id: str
    advice: _Advice
    replay_from: int = -1
    """The replay id the subscription started from (set once subscribed)."""


class CometdTransport:
    """One `batches()` iteration at a time; cancel it before `aclose()`."""

    def __init__(self, settings: SalesforceSettings, auth: SalesforceAuth) -> None:
        self._settings = settings
        self._auth = auth
        self._timeout_seconds = settings.timeout / 1000
        self._http = httpx.AsyncClient(
            verify=tls_verification(settings), timeout=self._timeout_seconds
        )
        self._message_ids = itertools.count(1)
        self._session: _Session | None = None

    async def batches(
        self, channel: str, replay_from: Callable[[], ReplayPosition]
    ) -> AsyncIterator[list[PlatformEvent]]:
        session: _Session | None = None
        lost_in_a_row: list[SubscriptionLostError] = []
        while True:
            try:
                if session is None:
                    session = await self._start_session(channel, _cometd_replay_id(replay_from()))
                batch = await self._connect(session, channel)
            except SubscriptionLostError as lost:
                session = None
                lost_in_a_row.append(lost)
                await recover_subscription(self._auth, lost_in_a_row, log)
                continue
            lost_in_a_row.clear()
            yield batch
            if session.advice.reconnect == "handshake":
                log.info("salesforce advised a new cometd handshake", channel=channel)
                session = None

    async def check_subscription(self, channel: str) -> None:
        """Handshake and subscribe (from new events), nothing more: no `/meta/connect`, so no
        event is consumed; `aclose()` disconnects again (`portalctl preflight`)."""
        await self._start_session(channel, -1)

    async def aclose(self) -> None:
        """Disconnect the CometD client (best effort) and close the HTTP connections."""
        session, self._session = self._session, None
        if session is not None:
            with contextlib.suppress(SubscriptionLostError, StreamingError):
                message = {"channel": "/meta/disconnect", "clientId": session.client_id}
                await self._exchange(session.token, [message])
        await self._http.aclose()

    async def _start_session(self, channel: str, replay_id: int) -> _Session:
        session = await self._handshake()
        self._session = session
        message = {
            "channel": "/meta/subscribe",
            "clientId": session.client_id,
            "subscription": channel,
            "ext": {"replay": {channel: replay_id}},
        }
        reply = _meta_reply(await self._exchange(session.token, [message]), "/meta/subscribe")
        if not reply.get("successful"):
            raise _invalid_replay_id(reply, replay_id) or _failure(session.token, reply)
        session.replay_from = replay_id
        log.info("platform event subscription started", channel=channel, replay_from=replay_id)
        return session

    async def _handshake(self) -> _Session:
        token = await self._login()
        message = {
            "channel": "/meta/handshake",
            "version": BAYEUX_VERSION,
            "minimumVersion": BAYEUX_VERSION,
            "supportedConnectionTypes": [LONG_POLLING],
            "ext": {"replay": True},
        }
        reply = _meta_reply(await self._exchange(token, [message]), "/meta/handshake")
        client_id = reply.get("clientId")
        if not reply.get("successful") or not isinstance(client_id, str):
            raise _failure(token, reply)
        return _Session(token, client_id, _Advice().updated(reply))

    async def _login(self) -> SalesforceToken:
        try:
            return await asyncio.to_thread(self._auth.token)
        except TransientError as error:
            raise _UnavailableError(f"login: {error}") from None

    async def _connect(self, session: _Session, channel: str) -> list[PlatformEvent]:
        if session.advice.interval > 0:
            await asyncio.sleep(session.advice.interval / 1000)
        message = {
            "channel": "/meta/connect",
            "clientId": session.client_id,
            "connectionType": LONG_POLLING,
        }
        hold_seconds = session.advice.timeout / 1000
        messages = await self._exchange(
            session.token, [message], read_timeout=hold_seconds + self._timeout_seconds
        )
        reply = _meta_reply(messages, "/meta/connect")
        if not reply.get("successful"):
            raise _invalid_replay_id(reply, session.replay_from) or _failure(session.token, reply)
        session.advice = session.advice.updated(reply)
        if session.advice.reconnect == "none":
            raise StreamingError("Salesforce advised the CometD client not to reconnect")
        return _events(messages, channel)

    async def _exchange(
        self, token: SalesforceToken, messages: list[Message], *, read_timeout: float | None = None
    ) -> list[Message]:
        """POST messages (each given an id), return the server's messages."""
        url = f"{token.instance_url.rstrip('/')}/cometd/{self._settings.api_version}"
        body = [{**message, "id": str(next(self._message_ids))} for message in messages]
        timeout = httpx.Timeout(self._timeout_seconds, read=read_timeout or self._timeout_seconds)
        headers = {"Authorization": f"Bearer {token.access_token}"}
        try:
            response = await self._http.post(url, json=body, headers=headers, timeout=timeout)
        except httpx.TransportError as error:
            raise _UnavailableError(f"{type(error).__name__} {error}".strip()) from None
        if response.status_code == 401:
            raise AuthenticationInvalidError(token, "HTTP 401")
        if response.status_code >= 500 or response.status_code == 429:
            raise _UnavailableError(f"HTTP {response.status_code}")
        if response.status_code != 200:
            raise StreamingError(f"unexpected HTTP {response.status_code} from {url}")
        try:
            answer = response.json()
        except ValueError:
            raise _UnavailableError("the answer is not JSON") from None
        if not isinstance(answer, list):
            raise _UnavailableError("the answer is not a Bayeux message array")
        return [message for message in answer if isinstance(message, dict)]


def _cometd_replay_id(position: ReplayPosition) -> int:
    if isinstance(position, bytes):
        raise InvalidReplayIdError(
            position, "a Pub/Sub API replay id cannot resume a CometD subscription"
        )
    return position


def _meta_reply(messages: list[Message], channel: str) -> Message:
    for message in messages:
        if message.get("channel") == channel:
            return message
    raise _UnavailableError(f"no {channel} reply in the answer")


def _invalid_replay_id(reply: Message, replay_from: int) -> InvalidReplayIdError | None:
    """Salesforce's invalid-replay-id refusal, with the id it names (else `replay_from`)."""
    error = str(reply.get("error") or "")
    match = _INVALID_REPLAY_ID.match(error)
    if match is None:
        return None
    named = match.group(1)
    return InvalidReplayIdError(int(named) if named is not None else replay_from, error)


def _failure(token: SalesforceToken, reply: Message) -> Exception:
    """The exception for an unsuccessful meta reply, from its error and advice."""
    error = str(reply.get("error") or "no error given")
    failure_reason = _failure_reason(reply)
    if error.startswith("401") or failure_reason.startswith("401"):
        return AuthenticationInvalidError(token, failure_reason or error)
    advice = reply.get("advice")
    reconnect = advice.get("reconnect") if isinstance(advice, dict) else None
    if error.startswith("403::Unknown client") or reconnect == "handshake":
        return _UnknownClientError(error)
    if reconnect == "retry":
        return _UnavailableError(error)
    return StreamingError(f"{reply.get('channel')} failed: {error}")


def _failure_reason(reply: Message) -> str:
    """Salesforce nests the real cause of `403::Handshake denied` in `ext.sfdc`."""
    ext = reply.get("ext")
    sfdc = ext.get("sfdc") if isinstance(ext, dict) else None
    return str(sfdc.get("failureReason") or "") if isinstance(sfdc, dict) else ""


def _events(messages: list[Message], channel: str) -> list[PlatformEvent]:
    events = []
    for message in messages:
        if message.get("channel") != channel:
            continue
        event = _platform_event(message, channel)
        if event is None:
            log.warning("platform event without a replay id skipped", channel=channel)
        else:
            events.append(event)
    return events


def _platform_event(message: Message, channel: str) -> PlatformEvent | None:
    """The event in a message, or None without `data.event.replayId`."""
    data = message.get("data")
    if not isinstance(data, dict) or not isinstance(data.get("event"), dict):
        return None
    replay_id, event_uuid = data["event"].get("replayId"), data["event"].get("EventUuid")
    if not isinstance(replay_id, int) or isinstance(replay_id, bool):
        return None
    payload = data.get("payload")
    decoded = isinstance(payload, dict)
    return PlatformEvent(
        channel=channel,
        replay_id=replay_id,
        event_uuid=event_uuid if isinstance(event_uuid, str) else None,
        payload=payload if decoded else {},
        decode_error=None if decoded else "the payload is not a JSON object",
        raw_payload=b"" if decoded else json.dumps(payload).encode(),
    )


def _backoff_seconds(attempt: int) -> float:
    return float(min(INITIAL_BACKOFF_SECONDS * 2 ** (attempt - 1), MAX_BACKOFF_SECONDS))


def _milliseconds(value: Any, default: int) -> int:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return int(value)
    return default
