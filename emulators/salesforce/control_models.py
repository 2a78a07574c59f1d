"""Bodies of the Salesforce emulator's control API, shared by its routes and its client."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from emulators.salesforce.event_bus import ORDER_PROVISION_CHANNEL


class ConnectedAppRegistration(BaseModel):
    consumer_key: str
    username: str
    certificates: list[str] = Field(description="PEM X.509 certificates of the signing keys")


class CertificateUpload(BaseModel):
    certificate: str = Field(description="PEM X.509 certificate")


class OrgSettings(BaseModel):
    api_limit: int | None = Field(default=None, ge=0, description="daily API request allowance")
    query_batch_size: int | None = Field(default=None, ge=1, description="records per page")
    connect_hold_seconds: float | None = Field(
        default=None, gt=0, description="how long a CometD /meta/connect waits for events"
    )


class EventPublication(BaseModel):
    channel: str = ORDER_PROVISION_CHANNEL
    payload: dict[str, Any] = Field(description="any fields, so bad events can be published")


class OrderApproval(BaseModel):
    idem_key: str | None = Field(default=None, description="IdemKey__c of the published event")


class ClockAdvance(BaseModel):
    seconds: float = Field(gt=0)
