"""The `mapping` step: Salesforce Account -> WHMCS client, and each item -> WHMCS product. It
runs at the start of `map_and_create_order` (activities/whmcs.py)."""

from __future__ import annotations

import psycopg
from temporalio import activity

from contracts.provisioning import MappedLine, Order, OrderItem, OrderMapping
from integrations.errors import BusinessError, TransientError
from integrations.id_mappings import IdMapping, IdMappings


class MappingMissingError(BusinessError):
    def __init__(self, problems: list[str]) -> None:
        super().__init__("MAPPING", "Missing mappings: " + "; ".join(problems))
        self.problems = problems


class MappingUnavailableError(TransientError):
    """`id_mappings` could not be read: retried, and reported at `mapping` when it stays so."""

    def __init__(self, error: psycopg.Error) -> None:
        super().__init__("ECONNECTION", f"PostgreSQL id_mappings: {error}")


def _item_problem(item: OrderItem) -> str | None:
    product = item.product
    if product is None:
        return f"OrderItem {item.id} has no Product2"
    missing = []
    if not product.whmcs_product_id:
        missing.append("no Product2.WH_Product_ID__c")
    elif not product.whmcs_product_id.isdigit():
        missing.append(f"Product2.WH_Product_ID__c {product.whmcs_product_id!r} is not a number")
    if not product.billing_cycle:
        missing.append("no Product2.Billing_Cycle__c")
    return f"OrderItem {item.id} ({product.name}) has {' and '.join(missing)}" if missing else None


def _line(item: OrderItem) -> MappedLine:
    assert item.product
    assert item.product.whmcs_product_id
    assert item.product.billing_cycle
    return MappedLine(
        order_item_id=item.id,
        product_id=int(item.product.whmcs_product_id),
        billing_cycle=item.product.billing_cycle.lower(),
        quantity=item.quantity,
    )


async def map_order(id_mappings: IdMappings, order: Order) -> OrderMapping:
    """Map the whole order or fail with one report naming every unmapped piece."""
    client = await _client_of(id_mappings, order.account_id) if order.account_id else None
    problems = [] if client else [f"Account {order.account_id} has no WHMCS client mapping"]
    problems += [problem for item in order.items if (problem := _item_problem(item))]
    if problems:
        activity.logger.warning("Order mapping report", extra={"problems": problems})
        raise MappingMissingError(problems)
    assert client is not None
    return OrderMapping(
        whmcs_client_id=client.whmcs_client_id, lines=[_line(item) for item in order.items]
    )


async def _client_of(id_mappings: IdMappings, sf_account_id: str) -> IdMapping | None:
    try:
        return await id_mappings.find_by_sf_account(sf_account_id)
    except psycopg.Error as error:
        raise MappingUnavailableError(error) from error
