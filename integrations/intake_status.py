"""What the bridge process's `/health` says about its Platform Event intake: the transport,
the channel, the replay id of the last event handed over and how long that event took from
its CreatedDate to Temporal's acknowledgement. One per process, as the process has one
bridge at a time (a new leader term replaces it)."""

from __future__ import annotations

from datetime import UTC, datetime

from pydantic import BaseModel

from integrations.metrics import PLATFORM_EVENT_TRANSPORT


class IntakeView(BaseModel):
    transport: str
    channel: str
    last_replay_id: str | None = None
    """CometD's whole number, or the Pub/Sub API's opaque bytes in hex (as logs show it)."""
    last_handed_over_at: datetime | None = None
    lag_seconds: float | None = None
    """Of the last event that reached a workflow."""


class IntakeStatus:
    def __init__(self) -> None:
        self._view: IntakeView | None = None

    def subscribing(self, transport: str, channel: str) -> None:
        self._view = IntakeView(transport=transport, channel=channel)
        PLATFORM_EVENT_TRANSPORT.labels(channel, transport).set(1)

    def handed_over(self, replay_id: int | bytes, lag_seconds: float | None) -> None:
        if self._view is None:
            return
        shown = replay_id.hex() if isinstance(replay_id, bytes) else str(replay_id)
        update: dict[str, object] = {
            "last_replay_id": shown,
            "last_handed_over_at": datetime.now(UTC),
        }
        if lag_seconds is not None:
            update["lag_seconds"] = round(lag_seconds, 3)
        self._view = self._view.model_copy(update=update)

    def view(self) -> IntakeView | None:
        return self._view


INTAKE_STATUS = IntakeStatus()
