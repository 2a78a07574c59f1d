"""Bodies of the Salesforce emulator's control API, shared by its routes and its client."""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Literal

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
    reconnect_deadline_seconds: float | None = Field(
        default=None,
        gt=0,
        description="how long (org clock) a CometD client may take to come back after a "
        "response before Salesforce forgets it (403::Unknown client); Salesforce: 40 s",
    )


class EventPublication(BaseModel):
    channel: str = ORDER_PROVISION_CHANNEL
    payload: dict[str, Any] = Field(description="any fields, so bad events can be published")


class OrderApproval(BaseModel):
    idem_key: str | None = Field(default=None, description="IdemKey__c of the published event")


class ClockAdvance(BaseModel):
    seconds: float = Field(gt=0)


class RecordErrorCode(StrEnum):
    """Record errors (the API's StatusCode values) the emulator can be told to answer a write
    with; api_errors.record_error has each one's message."""

    UNABLE_TO_LOCK_ROW = "UNABLE_TO_LOCK_ROW"
    """Another transaction holds the record's row lock (held until it ends, waited for ~10 s)."""
    ENTITY_IS_LOCKED = "ENTITY_IS_LOCKED"
    """An approval process locks the record until the approval is finished or unlocked."""
    FIELD_CUSTOM_VALIDATION_EXCEPTION = "FIELD_CUSTOM_VALIDATION_EXCEPTION"
    """A validation rule of the org refused the values."""
    STRING_TOO_LONG = "STRING_TOO_LONG"
    INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST = "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"
    REQUIRED_FIELD_MISSING = "REQUIRED_FIELD_MISSING"


class RecordErrorInjection(BaseModel):
    """Refuse the next write(s) to a record the way Salesforce refuses a DML operation: the
    REST record update answers 400 with the error array, an sObject Collections update 200
    with the error on that record (and, with allOrNone, every other record rolled back)."""

    error_code: RecordErrorCode
    operation: Literal["update", "composite", "*"] = "*"
    record_id: str | None = Field(
        default=None, description="refuse writes to this record only; default: the first record"
    )
    field: str | None = Field(
        default=None,
        description="the field the error names (STRING_TOO_LONG, the picklist and required "
        "field errors, optionally a validation rule's); default: one the request writes",
    )
    message: str | None = Field(
        default=None, description="FIELD_CUSTOM_VALIDATION_EXCEPTION: the rule's error message"
    )
    times: int = Field(default=1, ge=0, description="requests it refuses; 0 means until cleared")
