"""Salesforce record Ids: 15 case-sensitive characters plus a 3-character case-safe suffix
(`integrations.salesforce.record_ids`). The first three characters are the sObject type's key
prefix (Order `801`, ...)."""

from __future__ import annotations

from integrations.salesforce.record_ids import case_safe_suffix


def new_id(key_prefix: str, sequence: int) -> str:
    id15 = f"{key_prefix}5g{sequence:010d}"
    return id15 + case_safe_suffix(id15)
