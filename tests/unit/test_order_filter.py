"""The visibility query and the batch selection that `portalctl order list | retry` build."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from starters.order_listing import InvalidFilterError, OrderFilter

NOW = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)
ACCOUNTS = ("0015g00000AbCdEAAV", "001550V000WOQZiACP")


def test_failure_filters_select_failed_orders_since_a_time() -> None:
    query = OrderFilter(code="503", step="whmcs_create", since=timedelta(hours=2)).query(NOW)

    assert query == (
        'WorkflowType = "ProvisionOrder" AND ActivationStatus = "Failed"'
        ' AND ErrorCode = "503" AND FailedStep = "whmcs_create"'
        ' AND FailedAt >= "2026-12-01T01:00:00Z"'
    )


def test_retry_takes_running_orders_of_the_accounts_only() -> None:
    query = OrderFilter(failed=True, accounts=ACCOUNTS, running_only=True).query(NOW)

    assert query == (
        'WorkflowType = "ProvisionOrder" AND ExecutionStatus = "Running"'
        ' AND ActivationStatus = "Failed"'
        f' AND SalesforceAccountId IN ("{ACCOUNTS[0]}", "{ACCOUNTS[1]}")'
    )


def test_the_same_filters_are_the_same_selection_in_any_order() -> None:
    first = OrderFilter(failed=True, code="409", accounts=ACCOUNTS)
    again = OrderFilter(failed=True, code="409", accounts=ACCOUNTS[::-1])

    assert first.selection() == again.selection()
    assert first.selection() != OrderFilter(failed=True, code="503").selection()


@pytest.mark.parametrize(
    "arguments",
    [
        {"code": '503" OR WorkflowType = "x'},
        {"step": "payment"},
        {"since": timedelta(0)},
        {"accounts": ("not an id",)},
    ],
)
def test_a_value_that_is_no_order_field_never_reaches_the_query(arguments: dict[str, Any]) -> None:
    with pytest.raises(InvalidFilterError):
        OrderFilter(**arguments)
