"""In-memory records keyed by sObject type, validated against the schema like the real API."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from emulators.salesforce.api_errors import ApiError, not_found
from emulators.salesforce.ids import new_id
from emulators.salesforce.schema import SOBJECT_TYPES, SObjectType
from integrations.salesforce.record_ids import case_safe_id

Record = dict[str, Any]


def sobject_type(name: str) -> SObjectType:
    sobject = SOBJECT_TYPES.get(name)
    if sobject is None:
        raise not_found()
    return sobject


class RecordStore:
    """Not locked: the emulator touches it only from its event loop, between awaits."""

    def __init__(self) -> None:
        self._records: dict[str, dict[str, Record]] = {name: {} for name in SOBJECT_TYPES}
        self._id_sequence = 0
        self._auto_numbers: Counter[str] = Counter()

    def clear(self) -> None:
        """Forget every record; Ids keep counting up so a stale Id never finds a new record."""
        for table in self._records.values():
            table.clear()
        self._auto_numbers.clear()

    def create(self, type_name: str, fields: Mapping[str, Any]) -> Record:
        sobject = sobject_type(type_name)
        values = self._checked_values(sobject, fields)
        self._id_sequence += 1
        record_id = new_id(sobject.key_prefix, self._id_sequence)
        now = _timestamp()
        record: Record = {"Id": record_id, "CreatedDate": now, "LastModifiedDate": now}
        if sobject.auto_number:
            self._auto_numbers[type_name] += 1
            record[sobject.auto_number] = f"{self._auto_numbers[type_name]:08d}"
        record.update(values)
        self._records[type_name][record_id] = record
        return self.view(type_name, record)

    def get(self, type_name: str, record_id: str) -> Record | None:
        normalized = case_safe_id(record_id)
        table = self._records.get(type_name, {})
        return table.get(normalized) if normalized else None

    def all(self, type_name: str) -> list[Record]:
        return list(self._records[sobject_type(type_name).name].values())

    def check_update(self, type_name: str, record_id: str, fields: Mapping[str, Any]) -> Record:
        """The validated field values of an update, or ApiError; changes nothing."""
        sobject = sobject_type(type_name)
        if case_safe_id(record_id) is None:
            raise ApiError(
                400,
                "MALFORMED_ID",
                f"{type_name} ID: id value of incorrect type: {record_id}",
                ["Id"],
            )
        if self.get(type_name, record_id) is None:
            raise not_found()
        return self._checked_values(sobject, fields)

    def apply_update(self, type_name: str, record_id: str, values: Record) -> str:
        """Apply values from `check_update`; the record's 18-character Id."""
        record = self.get(type_name, record_id)
        assert record is not None, "apply_update follows a successful check_update"
        record.update(values)
        record["LastModifiedDate"] = _timestamp()
        return str(record["Id"])

    def update(self, type_name: str, record_id: str, fields: Mapping[str, Any]) -> None:
        self.apply_update(type_name, record_id, self.check_update(type_name, record_id, fields))

    def view(self, type_name: str, record: Record) -> Record:
        """Every field of the record, unset ones as null, Id first."""
        others = sorted(sobject_type(type_name).fields - {"Id"})
        return {"Id": record["Id"], **{name: record.get(name) for name in others}}

    def _checked_values(self, sobject: SObjectType, fields: Mapping[str, Any]) -> Record:
        values: Record = {}
        for name, value in fields.items():
            if name not in sobject.fields:
                message = f"No such column '{name}' on sobject of type {sobject.name}"
                raise ApiError(400, "INVALID_FIELD", message)
            if name not in sobject.writable_fields:
                raise ApiError(
                    400,
                    "INVALID_FIELD_FOR_INSERT_UPDATE",
                    f"Unable to create/update fields: {name}. Please check the security settings"
                    " of this field and verify that it is read/write for your profile or"
                    " permission set.",
                    [name],
                )
            values[name] = self._checked_value(sobject, name, value)
        return values

    def _checked_value(self, sobject: SObjectType, name: str, value: Any) -> Any:
        if value is None:
            return None
        if name in sobject.double_fields:
            return _as_double(name, value)
        target = sobject.lookups.get(name)
        if target is None:
            return value
        referenced = self.get(target, str(value))
        if referenced is None:
            raise ApiError(
                400,
                "INVALID_CROSS_REFERENCE_KEY",
                f"invalid cross reference id: {name}: {value}",
                [name],
            )
        return referenced["Id"]


def _as_double(name: str, value: Any) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    try:
        return float(str(value))
    except ValueError:
        raise ApiError(
            400,
            "JSON_PARSER_ERROR",
            f"Cannot deserialize instance of double from VALUE_STRING value {value}",
            [name],
        ) from None


def _timestamp() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "+0000"
