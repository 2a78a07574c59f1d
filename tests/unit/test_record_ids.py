"""Salesforce record Ids in their case-safe 18-character form, as the API answers with them."""

from __future__ import annotations

from integrations.salesforce.record_ids import account_id, case_safe_id


def test_ids_are_normalized_to_their_case_safe_form() -> None:
    assert case_safe_id("001A0000006Vm9r") == "001A0000006Vm9rIAC"
    assert case_safe_id("001A0000006Vm9rIAC") == "001A0000006Vm9rIAC"
    assert case_safe_id("001A0000006Vm9rAAA") is None
    assert case_safe_id("not an id") is None


def test_only_an_account_id_is_an_account_id() -> None:
    assert account_id(" 001A0000006Vm9r ") == "001A0000006Vm9rIAC"
    assert account_id("801A0000006Vm9r") is None
