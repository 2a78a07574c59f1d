"""Many Salesforce Orders at once for the chaos suite and the benchmarks: each with its own
Account, WHMCS client and id mapping, all sharing two products (as a real catalogue does)."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass

from contracts.provisioning import ActivationStatus
from emulators.salesforce import SalesforceEmulatorControl
from emulators.whmcs import NewClient, WhmcsEmulatorControl
from integrations.id_mappings import IdMapping, IdMappings

PRODUCTS = ("SIM Data 5GB", "Voice Option")
PARALLEL_REQUESTS = 8


@dataclass(frozen=True)
class BulkOrder:
    order_id: str
    whmcs_client_id: int
    has_payment_method: bool


class OrderFactory:
    def __init__(
        self,
        salesforce: SalesforceEmulatorControl,
        whmcs: WhmcsEmulatorControl,
        id_mappings: IdMappings,
    ) -> None:
        self._salesforce = salesforce
        self._whmcs = whmcs
        self._id_mappings = id_mappings
        self._product2_ids: list[str] = []

    async def create_many(
        self, count: int, *, without_payment_method: int = 0, activating: bool = False
    ) -> list[BulkOrder]:
        """`count` orders, the first `without_payment_method` of them lacking a WHMCS pay
        method; `activating` sets Activating without publishing an event (no Flow ran)."""
        if not self._product2_ids:
            self._product2_ids = [await asyncio.to_thread(self._product, name) for name in PRODUCTS]
        limit = asyncio.Semaphore(PARALLEL_REQUESTS)

        async def one(index: int) -> BulkOrder:
            async with limit:
                return await self._order(index >= without_payment_method, activating)

        return list(await asyncio.gather(*(one(index) for index in range(count))))

    async def _order(self, has_payment_method: bool, activating: bool) -> BulkOrder:
        account_id, client_id = await asyncio.to_thread(self._customer, has_payment_method)
        mapping = IdMapping(
            user_id=str(uuid.uuid4()), whmcs_client_id=client_id, sf_account_id=account_id
        )
        await self._id_mappings.upsert(mapping)
        order_id = await asyncio.to_thread(self._sales_order, account_id, activating)
        return BulkOrder(order_id, client_id, has_payment_method)

    def _product(self, name: str) -> str:
        whmcs_id = self._whmcs.add_product(name).id
        record = self._salesforce.create_record(
            "Product2", {"Name": name, "WH_Product_ID__c": whmcs_id, "Billing_Cycle__c": "Monthly"}
        )
        return str(record["Id"])

    def _customer(self, has_payment_method: bool) -> tuple[str, int]:
        account = self._salesforce.create_record("Account", {"Name": "Bulk Customer KK"})
        client = self._whmcs.create_client(NewClient(companyname="Bulk Customer KK"))
        if has_payment_method:
            self._whmcs.add_pay_method(client.id)
        return str(account["Id"]), client.id

    def _sales_order(self, account_id: str, activating: bool) -> str:
        fields = {"AccountId": account_id, "Status": "Draft", "EffectiveDate": "2026-11-01"}
        if activating:
            fields["Activation_Status__c"] = ActivationStatus.ACTIVATING
        order_id = str(self._salesforce.create_record("Order", fields)["Id"])
        for product2_id in self._product2_ids:
            self._salesforce.create_record(
                "OrderItem", {"OrderId": order_id, "Product2Id": product2_id, "Quantity": 1.0}
            )
        return order_id
