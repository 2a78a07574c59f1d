"""Salesforce record Ids: 15 case-sensitive characters plus a 3-character case-safe suffix.

The first three characters are the sObject type's key prefix (Order `801`, ...). The suffix
encodes which of the 15 characters are upper case, so an 18-character Id survives
case-insensitive systems; the API always answers with 18-character Ids.
"""

from __future__ import annotations

import re

_ID_FORMAT = re.compile(r"[a-zA-Z0-9]{15}(?:[a-zA-Z0-9]{3})?")
_SUFFIX_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"


def case_safe_suffix(id15: str) -> str:
    suffix = ""
    for start in range(0, 15, 5):
        chunk = id15[start : start + 5]
        bits = sum(1 << position for position, char in enumerate(chunk) if "A" <= char <= "Z")
        suffix += _SUFFIX_ALPHABET[bits]
    return suffix


def new_id(key_prefix: str, sequence: int) -> str:
    id15 = f"{key_prefix}5g{sequence:010d}"
    return id15 + case_safe_suffix(id15)


def normalize_id(value: str) -> str | None:
    """The 18-character form of a well-formed Id, or None when `value` is not an Id."""
    if not _ID_FORMAT.fullmatch(value):
        return None
    id15 = value[:15]
    suffix = case_safe_suffix(id15)
    if len(value) == 18 and value[15:].upper() != suffix:
        return None
    return id15 + suffix
