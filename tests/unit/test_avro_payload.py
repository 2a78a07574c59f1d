"""Pub/Sub API payloads: Avro decoded into the shape CometD delivers the same event in, and a
payload that cannot be decoded reported as such (the intake parks the event), never raised
past the transport."""

from __future__ import annotations

import io
import json

import fastavro
import pytest

from emulators.salesforce.pubsub.avro_schema import event_schema
from integrations.salesforce.pubsub.avro_payload import PayloadDecodeError, SchemaCache, decode

TOPIC = "/event/OrderProvisionRequested__e"


def encoded(record: dict[str, object]) -> bytes:
    out = io.BytesIO()
    fastavro.schemaless_writer(out, fastavro.parse_schema(event_schema(TOPIC)), record)
    return out.getvalue()


async def schema_of_topic(_schema_id: str) -> str:
    return json.dumps(event_schema(TOPIC))


async def test_a_record_decodes_to_cometds_shape() -> None:
    schema = await SchemaCache(schema_of_topic).schema("any")
    payload = encoded(
        {
            "CreatedDate": 1_764_547_200_123,
            "CreatedById": "005000000000002AAA",
            "OrderId__c": "8015g000000000AAAA",
            "IdemKey__c": None,
        }
    )

    assert decode(payload, schema) == {
        "CreatedDate": "2025-12-01T00:00:00.123Z",
        "CreatedById": "005000000000002AAA",
        "OrderId__c": "8015g000000000AAAA",
        "IdemKey__c": None,
    }


async def test_bytes_that_are_no_such_record_are_a_decode_error() -> None:
    schema = await SchemaCache(schema_of_topic).schema("any")

    with pytest.raises(PayloadDecodeError, match="does not match its schema"):
        decode(b"\xff\xff\xff", schema)


async def test_a_schema_that_is_not_avro_is_a_decode_error() -> None:
    async def not_avro(_schema_id: str) -> str:
        return '{"type": "no-such-type"}'

    with pytest.raises(PayloadDecodeError, match="is not Avro"):
        await SchemaCache(not_avro).schema("abc")


async def test_a_schema_is_fetched_once_per_id() -> None:
    fetched: list[str] = []

    async def counting(schema_id: str) -> str:
        fetched.append(schema_id)
        return json.dumps(event_schema(TOPIC))

    cache = SchemaCache(counting)
    for schema_id in ("a", "a", "b", "a"):
        await cache.schema(schema_id)

    assert fetched == ["a", "b"]
