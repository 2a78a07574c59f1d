"""Platform Event payloads of the Pub/Sub API: Avro binary, decoded with the schema its
`schema_id` names, fetched once per id (GetSchema) and kept ("Event Deserialization
Considerations",
https://developer.salesforce.com/docs/platform/pub-sub-api/guide/event-deserialization-considerations.html).

The decoded record is shaped as CometD delivers the same event, so the intake reads one
form: `CreatedDate` (epoch milliseconds in Avro) becomes the ISO text CometD sends."""

from __future__ import annotations

import io
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import fastavro
from fastavro.types import Schema

SchemaFetcher = Callable[[str], Awaitable[str]]
"""The schema's JSON for a schema id (the GetSchema call)."""


class PayloadDecodeError(ValueError):
    pass


class SchemaCache:
    def __init__(self, fetch: SchemaFetcher) -> None:
        self._fetch = fetch
        self._schemas: dict[str, Schema] = {}

    async def schema(self, schema_id: str) -> Schema:
        """Raises PayloadDecodeError for a schema that is not Avro."""
        if schema_id not in self._schemas:
            schema_json = await self._fetch(schema_id)
            try:
                self._schemas[schema_id] = fastavro.parse_schema(json.loads(schema_json))
            except (ValueError, TypeError, fastavro.schema.SchemaParseException) as error:
                raise PayloadDecodeError(f"schema {schema_id} is not Avro: {error}") from None
        return self._schemas[schema_id]


def decode(payload: bytes, schema: Schema) -> dict[str, Any]:
    """The event's fields as CometD shows them; raises PayloadDecodeError."""
    try:
        record = fastavro.schemaless_reader(io.BytesIO(payload), schema)
    except Exception as error:  # fastavro raises what its byte reader meets
        raise PayloadDecodeError(f"the payload does not match its schema: {error}") from None
    if not isinstance(record, dict):
        raise PayloadDecodeError("the payload is not an Avro record")
    return {name: _cometd_form(name, value) for name, value in record.items()}


def _cometd_form(name: str, value: Any) -> Any:
    if name == "CreatedDate" and isinstance(value, int):
        value = datetime.fromtimestamp(value / 1000, tz=UTC)
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    return value
