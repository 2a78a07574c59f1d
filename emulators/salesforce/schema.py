"""The sObject types the emulator knows, with the fields the project reads and writes.

Unknown fields are rejected as Salesforce rejects them, so a typo in a client's field name
fails in tests instead of in production.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

SYSTEM_FIELDS = frozenset({"Id", "CreatedDate", "LastModifiedDate"})


@dataclass(frozen=True)
class ChildRelationship:
    child_type: str
    lookup_field: str


@dataclass(frozen=True)
class SObjectType:
    name: str
    key_prefix: str
    writable_fields: frozenset[str]
    double_fields: frozenset[str] = frozenset()
    lookups: Mapping[str, str] = field(default_factory=dict)
    """Lookup field -> referenced type; `Product2Id` makes the relationship `Product2`."""
    children: Mapping[str, ChildRelationship] = field(default_factory=dict)
    auto_number: str | None = None
    """A read-only field numbered on insert, like `OrderNumber`."""

    @property
    def fields(self) -> frozenset[str]:
        auto = {self.auto_number} if self.auto_number else set()
        return SYSTEM_FIELDS | self.writable_fields | auto

    def relationship_target(self, relationship: str) -> tuple[str, str] | None:
        """(lookup field, referenced type) behind a relationship name like `Product2`."""
        lookup_field = f"{relationship}Id"
        target = self.lookups.get(lookup_field)
        return (lookup_field, target) if target else None


SOBJECT_TYPES: dict[str, SObjectType] = {
    sobject.name: sobject
    for sobject in (
        SObjectType(
            name="Account",
            key_prefix="001",
            writable_fields=frozenset({"Name", "AccountNumber"}),
            children={"Orders": ChildRelationship("Order", "AccountId")},
        ),
        SObjectType(
            name="Product2",
            key_prefix="01t",
            writable_fields=frozenset(
                {"Name", "ProductCode", "IsActive", "WH_Product_ID__c", "Billing_Cycle__c"}
            ),
            double_fields=frozenset({"WH_Product_ID__c"}),
        ),
        SObjectType(
            name="Order",
            key_prefix="801",
            writable_fields=frozenset(
                {
                    "AccountId",
                    "Status",
                    "EffectiveDate",
                    "Pricebook2Id",
                    "Activation_Status__c",
                    "Activation_Error_Code__c",
                    "Activation_Error_Message__c",
                    "WHMCS_Order_ID__c",
                }
            ),
            lookups={"AccountId": "Account"},
            children={"OrderItems": ChildRelationship("OrderItem", "OrderId")},
            auto_number="OrderNumber",
        ),
        SObjectType(
            name="OrderItem",
            key_prefix="802",
            writable_fields=frozenset(
                {
                    "OrderId",
                    "Product2Id",
                    "PricebookEntryId",
                    "Quantity",
                    "UnitPrice",
                    "WHMCS_Service_ID__c",
                }
            ),
            double_fields=frozenset({"Quantity", "UnitPrice"}),
            lookups={"OrderId": "Order", "Product2Id": "Product2"},
            auto_number="OrderItemNumber",
        ),
    )
}


def id_fields(sobject: SObjectType) -> frozenset[str]:
    """Fields holding record Ids, compared in their 18-character form."""
    return frozenset({"Id", *sobject.lookups})
