"""The Salesforce emulator's SOQL subset: parsing, execution against records, paging."""

from __future__ import annotations

from typing import Any

import pytest

from emulators.salesforce.api_errors import ApiError
from emulators.salesforce.query import QueryEngine
from emulators.salesforce.records import RecordStore
from emulators.salesforce.soql import Condition, SoqlQuery, SoqlSyntaxError, parse_soql
from integrations.salesforce.client import ORDER_WITH_ITEMS_QUERY

API_PATH = "/services/data/v62.0"


@pytest.fixture
def store() -> RecordStore:
    return RecordStore()


def _order_query(order_id: str) -> str:
    return ORDER_WITH_ITEMS_QUERY.format(order_id=f"'{order_id}'")


def _error_code(engine: QueryEngine, soql: str) -> str:
    with pytest.raises(ApiError) as raised:
        engine.run(soql, API_PATH)
    return raised.value.error_code


def test_parses_the_order_query_with_its_item_subquery() -> None:
    query = parse_soql(_order_query("8015g0000000001AAA"))

    assert query.source == "Order"
    assert query.columns[:2] == ("Id", "OrderNumber")
    (subquery,) = [column for column in query.columns if isinstance(column, SoqlQuery)]
    assert subquery.source == "OrderItems"
    assert "Product2.WH_Product_ID__c" in subquery.columns
    assert query.conditions == (Condition("Id", "8015g0000000001AAA"),)


def test_parses_count_limit_keywords_in_any_case_and_escaped_strings() -> None:
    query = parse_soql(
        r"select count() from Account where Name = 'O\'Brien' and IsActive = TRUE limit 5"
    )

    assert query.count_only
    assert query.conditions == (Condition("Name", "O'Brien"), Condition("IsActive", True))
    assert query.limit == 5


@pytest.mark.parametrize(
    "soql",
    [
        "SELECT Id FROM Order ORDER BY Name",
        "SELECT Id FROM Order WHERE Name LIKE 'A%'",
        "SELECT Id FROM Order WHERE Id != 'x'",
        "SELECT Id, FROM Order",
        "SELECT Id FROM",
        "SELECT Id FROM Order LIMIT 1.5",
        "DELETE FROM Order",
    ],
)
def test_rejects_what_the_subset_does_not_cover(soql: str) -> None:
    with pytest.raises(SoqlSyntaxError):
        parse_soql(soql)


def test_order_query_returns_items_with_their_product(store: RecordStore) -> None:
    product = store.create("Product2", {"Name": "SIM", "WH_Product_ID__c": 12})
    order = store.create("Order", {"Activation_Status__c": "Activating"})
    item = store.create(
        "OrderItem", {"OrderId": order["Id"], "Product2Id": product["Id"], "Quantity": 1}
    )

    page = QueryEngine(store).run(_order_query(order["Id"][:15]), API_PATH)

    assert page["totalSize"] == 1
    assert page["done"] is True
    record = page["records"][0]
    assert record["attributes"] == {
        "type": "Order",
        "url": f"{API_PATH}/sobjects/Order/{order['Id']}",
    }
    items: dict[str, Any] = record["OrderItems"]
    assert items["totalSize"] == 1
    returned_item = items["records"][0]
    assert returned_item["Id"] == item["Id"]
    assert returned_item["Quantity"] == 1.0
    assert isinstance(returned_item["Quantity"], float)
    assert returned_item["Product2"]["Name"] == "SIM"
    assert returned_item["Product2"]["WH_Product_ID__c"] == 12.0
    assert returned_item["Product2"]["attributes"]["type"] == "Product2"


def test_empty_child_relationship_is_null(store: RecordStore) -> None:
    order = store.create("Order", {})

    page = QueryEngine(store).run(_order_query(order["Id"]), API_PATH)

    assert page["records"][0]["OrderItems"] is None


def test_missing_parent_is_null(store: RecordStore) -> None:
    store.create("OrderItem", {"Quantity": 1})

    page = QueryEngine(store).run("SELECT Id, Product2.Name FROM OrderItem", API_PATH)

    assert page["records"][0]["Product2"] is None


def test_count_and_limit(store: RecordStore) -> None:
    for name in ("a", "b", "c"):
        store.create("Account", {"Name": name})
    engine = QueryEngine(store)

    assert engine.run("SELECT COUNT() FROM Account", API_PATH)["totalSize"] == 3
    assert [
        r["Name"] for r in engine.run("SELECT Name FROM Account LIMIT 2", API_PATH)["records"]
    ] == ["a", "b"]


def test_pages_results_through_next_records_url(store: RecordStore) -> None:
    for name in ("a", "b", "c"):
        store.create("Account", {"Name": name})
    engine = QueryEngine(store, batch_size=2)

    first = engine.run("SELECT Name FROM Account", API_PATH)
    locator = first["nextRecordsUrl"].removeprefix(f"{API_PATH}/query/")
    second = engine.more(locator, API_PATH)

    assert (first["totalSize"], first["done"], len(first["records"])) == (3, False, 2)
    assert (second["done"], [r["Name"] for r in second["records"]]) == (True, ["c"])
    assert "nextRecordsUrl" not in second


@pytest.mark.parametrize(
    ("soql", "error_code"),
    [
        ("SELECT Id FROM Order ORDER BY Name", "MALFORMED_QUERY"),
        ("SELECT Id FROM Opportunity", "INVALID_TYPE"),
        ("SELECT Activation_Status FROM Order", "INVALID_FIELD"),
        ("SELECT Pricebook.Name FROM Order", "INVALID_FIELD"),
        ("SELECT Id, (SELECT Id FROM Items) FROM Order", "INVALID_TYPE"),
        ("SELECT Id FROM Order WHERE Id = '801'", "INVALID_QUERY_FILTER_OPERATOR"),
    ],
)
def test_query_errors_carry_salesforce_error_codes(
    store: RecordStore, soql: str, error_code: str
) -> None:
    assert _error_code(QueryEngine(store), soql) == error_code
