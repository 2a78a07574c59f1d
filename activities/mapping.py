"""The `mapping` step: Salesforce Account -> WHMCS client, and each item -> WHMCS product."""

from __future__ import annotations

from temporalio import activity

from contracts.provisioning import MAP_ORDER, MappedLine, Order, OrderItem, OrderMapping
from integrations.errors import BusinessError
from integrations.id_mappings import IdMappings


class MappingMissingError(BusinessError):
    def __init__(self, problems: list[str]) -> None:
        super().__init__("MAPPING", "Missing mappings: " + "; ".join(problems))
        self.problems = problems


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


class MappingActivities:
    def __init__(self, id_mappings: IdMappings) -> None:
        self._id_mappings = id_mappings

    @activity.defn(name=MAP_ORDER.name)
    async def map_order(self, order: Order) -> OrderMapping:
        """Map the whole order or fail with one report naming every unmapped piece."""
        client = (
            await self._id_mappings.find_by_sf_account(order.account_id)
            if order.account_id
            else None
        )
        problems = [] if client else [f"Account {order.account_id} has no WHMCS client mapping"]
        problems += [problem for item in order.items if (problem := _item_problem(item))]
        if problems:
            activity.logger.warning("Order mapping report", extra={"problems": problems})
            raise MappingMissingError(problems)
        assert client is not None
        return OrderMapping(
            whmcs_client_id=client.whmcs_client_id, lines=[_line(item) for item in order.items]
        )
