"""The Salesforce records the project reads and writes, typed with their API field names."""

from __future__ import annotations

import re

from pydantic import BaseModel

_RECORD_ID = re.compile(r"[a-zA-Z0-9]{15}(?:[a-zA-Z0-9]{3})?")


def is_record_id(value: str) -> bool:
    """A Salesforce record Id: 15 characters, or 18 with the case-safe suffix."""
    return _RECORD_ID.fullmatch(value) is not None


class RecordUpdate(BaseModel):
    """One record of a composite update: type, id and the fields to set (API names)."""

    sobject: str
    id: str
    fields: dict[str, str | int | float | bool | None]
