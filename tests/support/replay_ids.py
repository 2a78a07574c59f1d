"""Replay ids of the emulated org's events, whichever transport delivered them: the bridge
tests compare them with the numbers the emulator's control API returns (the CometD replay
ids; the Pub/Sub API's are their 8 bytes, big-endian, `pubsub_replay_id`)."""

from __future__ import annotations

from integrations.replay_store import PUBSUB_PREFIX

EventReplayId = int | bytes | str


def event_number(replay_id: EventReplayId) -> int:
    """The emulator's number of an event from its replay id as a transport delivers it (int,
    bytes) or as the JSON log shows it (int, or the bytes' hex digits)."""
    if isinstance(replay_id, bytes):
        return int.from_bytes(replay_id, "big")
    if isinstance(replay_id, str):
        return int.from_bytes(bytes.fromhex(replay_id), "big")
    return replay_id


def stored_event_number(stored: str | bytes) -> int:
    """The emulator's number of the event whose replay id the bridge stored in Redis."""
    text = stored.decode() if isinstance(stored, bytes) else stored
    prefix = PUBSUB_PREFIX.decode()
    if text.startswith(prefix):
        return event_number(text.removeprefix(prefix))
    return int(text)
