"""Sample data: a Salesforce Order approved for provisioning, with the WHMCS client, products
and id mapping it needs. The demo and the tests build their scenarios from it."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Protocol

from contracts.provisioning import ActivationStatus
from emulators.salesforce import SalesforceEmulatorControl
from emulators.whmcs import NewClient, WhmcsEmulatorControl
from integrations.id_mappings import IdMapping, IdMappings


class VendorControls(Protocol):
    """The emulators' control APIs a sample order is made with (`LocalVendors`, or those of
    standalone emulators)."""

    @property
    def salesforce(self) -> SalesforceEmulatorControl: ...

    @property
    def whmcs(self) -> WhmcsEmulatorControl: ...


@dataclass(frozen=True)
class SampleProduct:
    name: str
    billing_cycle: str | None = "Monthly"
    quantity: int = 1
    in_whmcs: bool = True
    """False leaves `WH_Product_ID__c` empty, as an unmapped product is."""


DEFAULT_PRODUCTS = (SampleProduct("SIM Data 5GB"), SampleProduct("Voice Option"))


@dataclass(frozen=True)
class SampleOrderSpec:
    products: tuple[SampleProduct, ...] = DEFAULT_PRODUCTS
    activation_status: str | None = ActivationStatus.ACTIVATING
    """None: not approved yet; approve it through the emulator like the Salesforce Flow."""
    has_payment_method: bool = True
    account_mapped: bool = True
    last_error: tuple[str, str] | None = None
    """(code, message) still on the Order, as when someone set it Activating by hand."""


@dataclass(frozen=True)
class SampleOrder:
    order_id: str
    account_id: str
    whmcs_client_id: int
    item_ids: list[str] = field(default_factory=list)


async def create_sample_order(
    vendors: VendorControls, id_mappings: IdMappings, spec: SampleOrderSpec = SampleOrderSpec()
) -> SampleOrder:
    account = vendors.salesforce.create_record("Account", {"Name": "Sample Customer KK"})
    client = vendors.whmcs.create_client(NewClient(companyname="Sample Customer KK"))
    if spec.has_payment_method:
        vendors.whmcs.add_pay_method(client.id)
    if spec.account_mapped:
        await id_mappings.upsert(
            IdMapping(
                user_id=str(uuid.uuid4()), whmcs_client_id=client.id, sf_account_id=account["Id"]
            )
        )
    order_fields = {"AccountId": account["Id"], "Status": "Draft", "EffectiveDate": "2026-11-01"}
    if spec.activation_status is not None:
        order_fields["Activation_Status__c"] = spec.activation_status
    if spec.last_error is not None:
        code, message = spec.last_error
        order_fields |= {"Activation_Error_Code__c": code, "Activation_Error_Message__c": message}
    order = vendors.salesforce.create_record("Order", order_fields)
    item_ids = [
        vendors.salesforce.create_record(
            "OrderItem",
            {
                "OrderId": order["Id"],
                "Product2Id": _product2_id(vendors, product),
                "Quantity": float(product.quantity),
            },
        )["Id"]
        for product in spec.products
    ]
    return SampleOrder(
        order_id=order["Id"], account_id=account["Id"], whmcs_client_id=client.id, item_ids=item_ids
    )


def _product2_id(vendors: VendorControls, product: SampleProduct) -> str:
    whmcs_id = vendors.whmcs.add_product(product.name).id if product.in_whmcs else None
    record = vendors.salesforce.create_record(
        "Product2",
        {
            "Name": product.name,
            "WH_Product_ID__c": whmcs_id,
            "Billing_Cycle__c": product.billing_cycle,
        },
    )
    return str(record["Id"])
