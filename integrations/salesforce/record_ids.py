"""Salesforce record Ids as the API returns them: 18 characters, the last three a case-safe
suffix encoding which of the first 15 are upper case ("ID Field Type",
https://developer.salesforce.com/docs/atlas.en-us.api.meta/api/field_types.htm). The UI's
URLs and reports show the 15-character form; the API, and so the Orders this system reads,
always the 18-character one."""

from __future__ import annotations

from integrations.salesforce.models import is_record_id

ACCOUNT_KEY_PREFIX = "001"
_SUFFIX_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"


def case_safe_suffix(id15: str) -> str:
    """The three characters that say which of the first 15 are upper case."""
    suffix = ""
    for start in range(0, 15, 5):
        chunk = id15[start : start + 5]
        bits = sum(1 << position for position, char in enumerate(chunk) if "A" <= char <= "Z")
        suffix += _SUFFIX_ALPHABET[bits]
    return suffix


def case_safe_id(record_id: str) -> str | None:
    """The 18-character form of a 15- or 18-character Id; None when it is not one (or an
    18-character Id whose suffix does not match its first 15 characters)."""
    if not is_record_id(record_id):
        return None
    id15 = record_id[:15]
    suffix = case_safe_suffix(id15)
    if len(record_id) == 18 and record_id[15:].upper() != suffix:
        return None
    return id15 + suffix


def account_id(value: str) -> str | None:
    """An Account's 18-character Id, or None when `value` is no Account Id."""
    normalized = case_safe_id(value.strip())
    return normalized if normalized and normalized.startswith(ACCOUNT_KEY_PREFIX) else None
