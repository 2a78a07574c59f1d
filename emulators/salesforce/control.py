"""Typed client for the Salesforce emulator's control API (tests, demo, benchmarks)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from emulators.control_client import EmulatorControl
from emulators.salesforce.control_models import (
    CertificateUpload,
    ConnectedAppRegistration,
    OrgSettings,
)
from emulators.salesforce.oauth import certificate_fingerprint

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

    def _put_settings(self, settings: OrgSettings) -> None:
        self._http.put("/settings", json=settings.model_dump(exclude_none=True)).raise_for_status()


def _text(pem: Pem) -> str:
    return pem.decode() if isinstance(pem, bytes) else pem
