"""Typed client for the Salesforce emulator's control API (tests, demo, benchmarks)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any, Literal

from emulators.control_client import EmulatorControl
from emulators.salesforce.control_models import (
    CertificateUpload,
    ClockAdvance,
    ConnectedAppRegistration,
    EventPublication,
    OrderApproval,
    OrgSettings,
    RecordErrorCode,
    RecordErrorInjection,
)
from emulators.salesforce.describe import FieldChange
from emulators.salesforce.event_bus import ORDER_PROVISION_CHANNEL
from emulators.salesforce.oauth import certificate_fingerprint
from emulators.salesforce.pubsub.service import replay_id_bytes

Pem = str | bytes


class SalesforceEmulatorControl(EmulatorControl):
    def register_connected_app(
        self, consumer_key: str, username: str, certificate_pems: Sequence[Pem]
    ) -> None:
        """Register (or replace) a connected app trusting the given signing certificates."""
        registration = ConnectedAppRegistration(
            consumer_key=consumer_key,
            username=username,
            certificates=[_text(pem) for pem in certificate_pems],
        )
        self.post("/connected-apps", registration.model_dump())

    def add_certificate(self, consumer_key: str, certificate_pem: Pem) -> None:
        upload = CertificateUpload(certificate=_text(certificate_pem))
        self.post(f"/connected-apps/{consumer_key}/certificates", upload.model_dump())

    def remove_certificate(self, consumer_key: str, certificate_pem: Pem) -> None:
        fingerprint = certificate_fingerprint(_text(certificate_pem))
        path = f"/connected-apps/{consumer_key}/certificates/{fingerprint}"
        self._http.delete(path).raise_for_status()

    def create_record(self, sobject: str, fields: Mapping[str, Any]) -> dict[str, Any]:
        """Insert a record (API field names); returns it with its Id and every field."""
        record: dict[str, Any] = self.post(f"/records/{sobject}", dict(fields))
        return record

    def get_record(self, sobject: str, record_id: str) -> dict[str, Any]:
        record: dict[str, Any] = self.get(f"/records/{sobject}/{record_id}")
        return record

    def list_records(self, sobject: str) -> list[dict[str, Any]]:
        records: list[dict[str, Any]] = self.get(f"/records/{sobject}")
        return records

    def expire_sessions(self) -> None:
        """Invalidate every access token: the next REST call gets 401 INVALID_SESSION_ID."""
        self.post("/sessions/expire")

    def api_usage(self) -> tuple[int, int]:
        """(used, limit) of the org's API request allowance."""
        settings = self.get("/settings")
        return settings["api_used"], settings["api_limit"]

    def set_api_limit(self, limit: int) -> None:
        self._put_settings(OrgSettings(api_limit=limit))

    def set_query_batch_size(self, size: int) -> None:
        self._put_settings(OrgSettings(query_batch_size=size))

    def set_connect_hold(self, seconds: float) -> None:
        """How long a CometD `/meta/connect` waits for events (Salesforce: 110 s)."""
        self._put_settings(OrgSettings(connect_hold_seconds=seconds))

    def set_reconnect_deadline(self, seconds: float) -> None:
        """How long (on the org's clock) a CometD client may take to come back after a
        response before it is forgotten (Salesforce: 40 s)."""
        self._put_settings(OrgSettings(reconnect_deadline_seconds=seconds))

    def publish_event(
        self, payload: Mapping[str, Any], channel: str = ORDER_PROVISION_CHANNEL
    ) -> int:
        """Publish a Platform Event with any payload, bad ones included; its replay id."""
        publication = EventPublication(channel=channel, payload=dict(payload))
        return _replay_id(self.post("/events", publication.model_dump()))

    def approve_order(self, order_id: str, *, idem_key: str | None = None) -> int:
        """Set the Order Activating and publish OrderProvisionRequested__e, like the Flow does;
        the event's replay id."""
        approval = OrderApproval(idem_key=idem_key)
        return _replay_id(self.post(f"/orders/{order_id}/approve", approval.model_dump()))

    def list_events(self, channel: str = ORDER_PROVISION_CHANNEL) -> list[dict[str, Any]]:
        """The retained events of a channel as subscribers receive them, oldest first."""
        events: list[dict[str, Any]] = self.get("/events", {"channel": channel})
        return events

    def advance_clock(self, *, hours: float = 0, minutes: float = 0, seconds: float = 0) -> None:
        """Move the org's clock forward, e.g. `hours=73` to age events out of retention."""
        delta = timedelta(hours=hours, minutes=minutes, seconds=seconds)
        self.post("/clock/advance", ClockAdvance(seconds=delta.total_seconds()).model_dump())

    def inject_record_error(
        self,
        error_code: RecordErrorCode | str,
        *,
        operation: Literal["update", "composite", "*"] = "*",
        record_id: str | None = None,
        field: str | None = None,
        message: str | None = None,
        times: int = 1,
    ) -> None:
        """Refuse the next `times` writes (0: until cleared) to a record, the first one of the
        request unless `record_id` names one, with a Salesforce record error such as
        UNABLE_TO_LOCK_ROW."""
        injection = RecordErrorInjection(
            error_code=RecordErrorCode(error_code),
            operation=operation,
            record_id=record_id,
            field=field,
            message=message,
            times=times,
        )
        self.post("/record-errors", injection.model_dump(mode="json"))

    def change_field(
        self,
        sobject: str,
        field: str,
        *,
        exists: bool = True,
        updateable: bool | None = None,
        length: int | None = None,
    ) -> None:
        """Describe `field` differently until the next reset: absent from the org, read-only
        for the integration user, or of another length."""
        change = FieldChange(
            sobject=sobject, field=field, exists=exists, updateable=updateable, length=length
        )
        self._http.put("/describe/fields", json=change.model_dump()).raise_for_status()

    def clear_record_errors(self) -> None:
        self._http.delete("/record-errors").raise_for_status()

    def cometd_clients(self) -> list[dict[str, Any]]:
        """Each CometD client the org knows: `client_id`, `waiting` (a `/meta/connect` of it
        is being held) and `positions` (channel -> the replay id its subscription is at)."""
        clients: list[dict[str, Any]] = self.get("/cometd/clients")
        return clients

    def drop_cometd_clients(self) -> None:
        """Forget every CometD client: their next message gets `403::Unknown client`."""
        self._http.delete("/cometd/clients").raise_for_status()

    def set_pubsub_keepalive(self, seconds: float) -> None:
        """How long a Pub/Sub stream with requested events pending waits for one before an
        empty keepalive FetchResponse (Salesforce: within 270 s)."""
        self._http.put("/pubsub/settings", json={"keepalive_seconds": seconds}).raise_for_status()

    def set_pubsub_idle_close(self, seconds: float) -> None:
        """How long (org clock) a Pub/Sub stream may have nothing requested before the server
        closes it (a slow consumer)."""
        self._http.put("/pubsub/settings", json={"idle_close_seconds": seconds}).raise_for_status()

    def pubsub_streams(self) -> list[dict[str, Any]]:
        """Each open Subscribe stream: `topic`, `position` (the replay id it is at, as a
        number) and `pending` (events requested, not yet delivered)."""
        streams: list[dict[str, Any]] = self.get("/pubsub/streams")
        return streams

    def close_pubsub_streams(self) -> None:
        """End every open Subscribe stream with UNAVAILABLE, as a server restart does."""
        self._http.delete("/pubsub/streams").raise_for_status()

    def _put_settings(self, settings: OrgSettings) -> None:
        self._http.put("/settings", json=settings.model_dump(exclude_none=True)).raise_for_status()


def pubsub_replay_id(replay_id: int) -> bytes:
    """The Pub/Sub API's replay id of the event whose CometD replay id is `replay_id`."""
    return replay_id_bytes(replay_id)


def _replay_id(event_message: dict[str, Any]) -> int:
    replay_id: int = event_message["data"]["event"]["replayId"]
    return replay_id


def _text(pem: Pem) -> str:
    return pem.decode() if isinstance(pem, bytes) else pem
