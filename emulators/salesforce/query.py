"""Run parsed SOQL against the record store and page the results like `/query` does.

Field names are matched case-sensitively (Salesforce ignores case); the project always uses
the API names exactly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from emulators.salesforce.api_errors import ApiError
from emulators.salesforce.records import Record, RecordStore
from emulators.salesforce.schema import SOBJECT_TYPES, SObjectType, id_fields
from emulators.salesforce.soql import Literal, SoqlQuery, SoqlSyntaxError, parse_soql
from integrations.salesforce.record_ids import case_safe_id

DEFAULT_BATCH_SIZE = 2000


@dataclass(frozen=True)
class _Filter:
    path: tuple[str, ...]
    value: Literal


class QueryEngine:
    def __init__(self, store: RecordStore, batch_size: int = DEFAULT_BATCH_SIZE) -> None:
        self._store = store
        self.batch_size = batch_size
        self._cursors: dict[str, list[Record]] = {}
        self._cursor_sequence = 0

    def clear(self) -> None:
        self._cursors.clear()

    def run(self, soql: str, api_path: str) -> dict[str, Any]:
        """The first page of results; `api_path` is like `/services/data/v62.0`."""
        try:
            query = parse_soql(soql)
        except SoqlSyntaxError as error:
            raise ApiError(400, "MALFORMED_QUERY", str(error)) from None
        sobject = SOBJECT_TYPES.get(query.source)
        if sobject is None:
            raise ApiError(400, "INVALID_TYPE", f"sObject type '{query.source}' is not supported.")
        filters = _checked_query(sobject, query)
        rows = self._matching(sobject, self._store.all(sobject.name), filters, query.limit)
        if query.count_only:
            return {"totalSize": len(rows), "done": True, "records": []}
        records = [self._shaped(sobject, row, query.columns, api_path) for row in rows]
        self._cursor_sequence += 1
        cursor = f"01g5g{self._cursor_sequence:010d}"
        self._cursors[cursor] = records
        return self._page(cursor, 0, api_path)

    def more(self, locator: str, api_path: str) -> dict[str, Any]:
        """The page a `nextRecordsUrl` points at."""
        cursor, _, offset = locator.partition("-")
        if cursor not in self._cursors or not offset.isdigit():
            raise ApiError(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
        return self._page(cursor, int(offset), api_path)

    def _page(self, cursor: str, offset: int, api_path: str) -> dict[str, Any]:
        records = self._cursors[cursor]
        end = offset + self.batch_size
        page: dict[str, Any] = {
            "totalSize": len(records),
            "done": end >= len(records),
            "records": records[offset:end],
        }
        if page["done"]:
            del self._cursors[cursor]
        else:
            page["nextRecordsUrl"] = f"{api_path}/query/{cursor}-{end}"
        return page

    def _matching(
        self, sobject: SObjectType, rows: list[Record], filters: list[_Filter], limit: int | None
    ) -> list[Record]:
        matching = [
            row
            for row in rows
            if all(self._value(sobject, row, f.path) == f.value for f in filters)
        ]
        return matching if limit is None else matching[:limit]

    def _value(self, sobject: SObjectType, record: Record | None, path: tuple[str, ...]) -> Any:
        if record is None:
            return None
        head, *rest = path
        if not rest:
            return record.get(head)
        parent_type, parent = self._parent(sobject, record, head)
        return self._value(parent_type, parent, tuple(rest))

    def _parent(
        self, sobject: SObjectType, record: Record, relationship: str
    ) -> tuple[SObjectType, Record | None]:
        target = sobject.relationship_target(relationship)
        assert target is not None, "paths are checked before they are read"
        lookup_field, parent_type = target
        parent_id = record.get(lookup_field)
        parent = self._store.get(parent_type, parent_id) if parent_id else None
        return SOBJECT_TYPES[parent_type], parent

    def _shaped(
        self,
        sobject: SObjectType,
        record: Record,
        columns: tuple[str | SoqlQuery, ...],
        api_path: str,
    ) -> Record:
        shaped = _with_attributes(sobject, record, api_path)
        for column in columns:
            if isinstance(column, SoqlQuery):
                shaped[column.source] = self._children(sobject, record, column, api_path)
            else:
                self._put(shaped, sobject, record, column.split("."), api_path)
        return shaped

    def _put(
        self, shaped: Record, sobject: SObjectType, record: Record, path: list[str], api_path: str
    ) -> None:
        head, *rest = path
        if not rest:
            shaped[head] = record.get(head)
            return
        parent_type, parent = self._parent(sobject, record, head)
        if parent is None:
            shaped[head] = None
            return
        nested = shaped.setdefault(head, _with_attributes(parent_type, parent, api_path))
        self._put(nested, parent_type, parent, rest, api_path)

    def _children(
        self, sobject: SObjectType, record: Record, subquery: SoqlQuery, api_path: str
    ) -> dict[str, Any] | None:
        relationship = sobject.children[subquery.source]
        child_type = SOBJECT_TYPES[relationship.child_type]
        own_children = [
            child
            for child in self._store.all(child_type.name)
            if child.get(relationship.lookup_field) == record["Id"]
        ]
        filters = _checked_filters(child_type, subquery)
        rows = self._matching(child_type, own_children, filters, subquery.limit)
        if not rows:
            return None
        records = [self._shaped(child_type, row, subquery.columns, api_path) for row in rows]
        return {"totalSize": len(records), "done": True, "records": records}


def _with_attributes(sobject: SObjectType, record: Record, api_path: str) -> Record:
    url = f"{api_path}/sobjects/{sobject.name}/{record['Id']}"
    return {"attributes": {"type": sobject.name, "url": url}}


def _checked_query(sobject: SObjectType, query: SoqlQuery) -> list[_Filter]:
    """Check every column and filter against the schema; the filters with Ids normalized."""
    for column in query.columns:
        if isinstance(column, str):
            _check_path(sobject, column)
            continue
        relationship = sobject.children.get(column.source)
        if relationship is None:
            raise ApiError(
                400,
                "INVALID_TYPE",
                f"Didn't understand relationship '{column.source}' in FROM part of query call.",
            )
        _checked_query(SOBJECT_TYPES[relationship.child_type], column)
    return _checked_filters(sobject, query)


def _checked_filters(sobject: SObjectType, query: SoqlQuery) -> list[_Filter]:
    filters = []
    for condition in query.conditions:
        owner, field = _check_path(sobject, condition.field)
        value = condition.value
        if field in id_fields(owner) and value is not None:
            value = case_safe_id(str(value))
            if value is None:
                raise ApiError(
                    400, "INVALID_QUERY_FILTER_OPERATOR", f"invalid ID field: {condition.value}"
                )
        filters.append(_Filter(tuple(condition.field.split(".")), value))
    return filters


def _check_path(sobject: SObjectType, path: str) -> tuple[SObjectType, str]:
    """The type owning the last field of `Rel.Rel.Field`, or INVALID_FIELD."""
    *relationships, field = path.split(".")
    for relationship in relationships:
        target = sobject.relationship_target(relationship)
        if target is None:
            raise ApiError(
                400,
                "INVALID_FIELD",
                f"Didn't understand relationship '{relationship}' in field path.",
            )
        sobject = SOBJECT_TYPES[target[1]]
    if field not in sobject.fields:
        raise ApiError(
            400,
            "INVALID_FIELD",
            f"No such column '{field}' on entity '{sobject.name}'. If you are attempting to use"
            " a custom field, be sure to append the '__c' after the custom field name.",
        )
    return sobject, field
