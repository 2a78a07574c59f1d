"""The Avro schema of the order Platform Event and its binary encoding, as the Pub/Sub API
delivers events: `ProducerEvent.payload` is the Avro binary encoding of the event by the
schema `schema_id` names, `CreatedDate` a long of epoch milliseconds and custom fields
optional unions ("Event Deserialization Considerations",
https://developer.salesforce.com/docs/platform/pub-sub-api/guide/event-deserialization-considerations.html).
Fields the schema does not declare are not part of the event (CometD's JSON shows what the
control API published; Pub/Sub can only carry the declared fields)."""

from __future__ import annotations

import hashlib
import io
import json
from datetime import datetime
from typing import Any

import fastavro

_OPTIONAL_TEXT = ["null", "string"]
_FIELDS = ("OrderId__c", "IdemKey__c")


def event_schema(topic: str) -> dict[str, Any]:
    name = topic.rsplit("/", 1)[-1]
    return {
        "type": "record",
        "name": name,
        "namespace": "com.sforce.eventbus",
        "fields": [
            {"name": "CreatedDate", "type": "long", "doc": "CreatedDate:DateTime"},
            {"name": "CreatedById", "type": "string", "doc": "CreatedBy:EntityId"},
            *({"name": field, "type": _OPTIONAL_TEXT, "default": None} for field in _FIELDS),
        ],
    }


def schema_json(topic: str) -> str:
    return json.dumps(event_schema(topic), separators=(",", ":"))


def schema_id(topic: str) -> str:
    """A fingerprint of the schema, as Salesforce's schema ids are."""
    return hashlib.sha256(schema_json(topic).encode()).hexdigest()[:22]


def encode(topic: str, payload: dict[str, Any]) -> bytes:
    record = {
        "CreatedDate": _epoch_millis(str(payload["CreatedDate"])),
        "CreatedById": str(payload["CreatedById"]),
        **{field: _text_or_none(payload.get(field)) for field in _FIELDS},
    }
    out = io.BytesIO()
    fastavro.schemaless_writer(out, fastavro.parse_schema(event_schema(topic)), record)
    return out.getvalue()


def _epoch_millis(iso: str) -> int:
    return int(datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() * 1000)


def _text_or_none(value: object) -> str | None:
    return None if value is None else str(value)
